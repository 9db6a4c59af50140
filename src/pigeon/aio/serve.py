"""``pigeon serve``: one TCP port, three protocols, bodies sent with zero-copy sendfile.

A connection's first bytes pick the protocol (``proto.classify``): HTTP/1.1 through h11, or
the tutorial's bare file name (answered with the raw bytes, or closed with nothing sent).
Every read has a timeout, every buffer a bound; one slow or vanished client costs the others
nothing. SIGINT/SIGTERM stop accepting and give transfers in flight ``grace`` seconds, then
cut them.
Digests (``Want-Repr-Digest``) never delay the first byte: ``aio.digesting`` says whether an
answer carries a known digest as a header or, chunked, the one hashed alongside as a trailer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast
from urllib.parse import quote

import h11

from pigeon import __version__
from pigeon.aio.accept import AcceptPressure
from pigeon.aio.announce import listening
from pigeon.aio.digesting import Digests, Follow
from pigeon.aio.events import Emit, Notice
from pigeon.aio.filesend import FileSpan, ShortBody, send_span
from pigeon.aio.pace import closed, drained, write_within
from pigeon.aio.sockets import bound_socket, limit_silence, peer_text, reset
from pigeon.config import ServeConfig
from pigeon.fs.digest_store import DigestStore
from pigeon.fs.digests import DigestCache
from pigeon.fs.root import (
    ConfinedRoot,
    Directory,
    NotFound,
    NotServed,
    OpenFile,
    content_type,
)
from pigeon.proto.classify import Protocol, classify, might_be_http
from pigeon.proto.http.fields import (
    etag_matches,
    http_date,
    make_etag,
    parse_http_date,
    repr_digest,
    wants_json,
)
from pigeon.proto.http.listing import Listing, ListingPage
from pigeon.proto.http.memo import (
    SETTLED,
    Remembered,
    ResponseMemo,
    date_offset,
    head_qualifies,
)
from pigeon.proto.http.ranges import Unsatisfiable, parse_range
from pigeon.proto.remote_names import RefusedName, legacy_name_segments, url_path_segments
from pigeon.proto.text import plural
from pigeon.proto.versions import Version, settled

READ_SIZE = 65_536
LISTING_BATCH = 256
"""Listing rows rendered and sent at a time (and files opened at a time for their digests)."""
LISTING_FRESH = 1.0
"""Seconds a folder's listing is shared by the requests that ask for it: concurrent requests
for one big folder cost one scan, and any number of slow clients hold one copy. A file may
change size meanwhile without the folder changing; the page is then up to this old."""
LISTINGS_HELD = 4
"""Pages in flight hold at most this many full listings' worth of entries (``--max-listing``
each); a page beyond is answered 503."""
CLOSE_WAIT = 2.0
"""Seconds an error answer to a connection over the limit may take, close included."""
SMALL_BODY = 64 << 10
"""Bodies up to this size are read with one pread and written with the head in one write:
cheaper than setting up sendfile for a few KiB."""
WRITE_HIGH = 256 << 10
"""Remembered answers are written straight from the read callback only while the client keeps
up: beyond this much unsent, the connection's task takes over and waits for the client."""
SERVER_HEADER = f"pigeon/{__version__}".encode()
REASONS = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Clock:
    """The ``Date`` header's value, made once a second (every answer carries it: RFC 9110
    6.6.1 asks it of an origin server with a clock)."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self.second:
            self.second, self.value = second, http_date(second).encode("ascii")
        return self.value


def _version(st: os.stat_result) -> Version:
    """What ties a remembered answer to one version of a file (see proto.http.memo)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Exchange:
    """One request and how far its answer got (what the access log says if it is cut)."""

    __slots__ = ("logged", "method", "peer", "sent", "span", "start", "status", "target")

    def __init__(self, peer: str, method: str, target: str) -> None:
        self.peer, self.method, self.target = peer, method, target
        self.start = time.perf_counter()
        self.status = 0  # no head sent yet
        self.sent = 0
        self.span: FileSpan | None = None
        self.logged = False


class _Lane(asyncio.StreamReaderProtocol):
    """A connection's protocol: a StreamReader's, plus a fast lane for remembered answers.

    While the connection's task waits idle for the next request it sets ``answer``; complete
    request heads that arrive then are answered right in the read callback when a remembered
    answer fits them (``FileServer.answer_remembered``). The first byte that does not fit goes
    to the StreamReader, ``answer`` is cleared, and the task handles it with h11, in order.
    """

    answer: Callable[[_Lane, bytes], bytes] | None = None
    last_active = 0.0
    peer = "-"
    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.answer is not None:
            data = self.answer(self, data)
            if not data:
                return
            self.answer = None
        super().data_received(data)


def _status(exc: NotServed) -> int:
    """HTTP's name for a name not served."""
    return 404 if isinstance(exc, NotFound) else 403


class FileServer:
    """The state shared by all connections of one ``pigeon serve``."""

    def __init__(self, cfg: ServeConfig, emit: Emit) -> None:
        self.cfg = cfg
        self.emit = emit
        self.root = ConfinedRoot(cfg.root, follow_symlinks=cfg.follow_symlinks, hidden=cfg.hidden)
        store = None
        if cfg.digest_cache:
            store = DigestStore(cfg.digest_cache, lambda text: emit(Notice(f"warning: {text}")))
        self.digests = Digests(DigestCache(store=store))
        self.memo = ResponseMemo()
        self.clock = _Clock()
        self.listings: dict[tuple[int, ...], tuple[float, asyncio.Future[Listing]]] = {}
        self.held: dict[int, list[Any]] = {}  # id -> [listing, pages being sent from it]
        # folders are listed in threads of their own: a crowd of big or slow folders must
        # not queue ahead of the file reads that share the default pool
        self.listing_pool = concurrent.futures.ThreadPoolExecutor(2, "pigeon-listing")
        self.connections: dict[asyncio.Task[None], bool] = {}  # task -> idle between requests
        self.sockets: dict[asyncio.Task[None], Any] = {}  # task -> its transport's socket
        self.stopping = False
        self.requests = 0

    # ----- logging -------------------------------------------------------------------------

    def log(
        self,
        peer: str,
        method: str,
        path: str,
        status: int,
        sent: int,
        start: float,
        remembered: bool = False,
        cut: bool = False,
    ) -> None:
        """One access-log line on stderr (JSON marks answers sent from ``self.memo``).

        A ``cut`` answer ended before it was complete (client gone, file changed, server
        stopping); ``sent`` is what had been sent of its body and status 0 means no head.
        """
        self.requests += 1
        if self.cfg.quiet:
            return
        ms = (time.perf_counter() - start) * 1000
        if self.cfg.log_json:
            line = json.dumps(
                {
                    "time": time.time(),
                    "client": peer,
                    "method": method,
                    "path": path,
                    "status": status,
                    "bytes": sent,
                    "ms": round(ms, 3),
                    **({"remembered": True} if remembered else {}),
                    **({"cut": True} if cut else {}),
                },
                ensure_ascii=False,
            )
        else:
            shown = (
                path.encode("unicode_escape").decode("ascii") if not path.isprintable() else path
            )
            line = f'{peer} "{method} {shown}" {status} {sent} {ms:.1f}ms' + (" cut" if cut else "")
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    # ----- connections ---------------------------------------------------------------------

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = peer_text(writer.get_extra_info("peername"))
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # a backstop for what a closed socket may still hold; later than our own stall
            # check, which resets (the kernel's timeout ends a connection silently)
            limit_silence(sock, 2 * self.cfg.stall_timeout + 10)
        if len(self.connections) >= self.cfg.max_connections or self.stopping:
            writer.write(self._simple_response(503, b"server busy, try again\n"))
            await self._lingering_close(reader, writer)
            return
        self.connections[task] = False
        self.sockets[task] = sock
        try:
            await self._serve_connection(reader, writer, peer)
        except TimeoutError:
            reset(writer.transport)  # a peer that took nothing for the stall timeout
        except (ConnectionError, OSError, ShortBody, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            task.uncancel()  # cut by shutdown(): the connection ends quietly
            writer.transport.abort()
        finally:
            try:
                await self._close(writer)  # still counted: closing may take the peer's time
            except asyncio.CancelledError:
                if not self.stopping:
                    raise
                task.uncancel()  # cut by shutdown() while closing: ends quietly too
                # what the kernel holds still goes out (the access log counted it as sent);
                # the kernel's user timeout bounds it after the process is gone
                writer.transport.abort()
            finally:
                self.connections.pop(task, None)
                self.sockets.pop(task, None)

    async def _lingering_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Close after an error answer without losing it to a reset.

        Closing with unread request bytes makes the kernel send RST, which can destroy the
        answer before the client reads it; so shut down writing, then read what is left. All
        of it within ``CLOSE_WAIT``: the connection may no longer count against the limit.
        """
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT):
                await drained(writer, CLOSE_WAIT)
                if writer.can_write_eof():
                    writer.write_eof()
                left = 0
                while left < (1 << 20) and (chunk := await reader.read(READ_SIZE)):
                    left += len(chunk)
        await self._close(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        await closed(writer, self.cfg.stall_timeout)

    def _simple_response(self, status: int, body: bytes) -> bytes:
        reason = REASONS.get(status, "Error")
        return (
            f"HTTP/1.1 {status} {reason}\r\nDate: {self.clock.now().decode()}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body

    async def _read(self, reader: asyncio.StreamReader, within: float) -> bytes:
        async with asyncio.timeout(within):
            return await reader.read(READ_SIZE)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        buf = b""
        deadline = time.monotonic() + self.cfg.header_timeout
        kind = Protocol.NEED_MORE
        while kind is Protocol.NEED_MORE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # sent nothing: dropped
            try:
                # a bare name that could still become "GET " waits as long as a request head
                short = buf and not might_be_http(buf)
                data = await self._read(
                    reader, min(remaining, self.cfg.legacy_wait) if short else remaining
                )
            except TimeoutError:
                if not buf:
                    return
                kind = Protocol.LEGACY  # a short name that happens to prefix "GET " etc.
                break
            if not data:
                if not buf:
                    return
                kind = Protocol.LEGACY
                break
            buf += data
            kind = classify(buf)
        if kind is Protocol.HTTP:
            await self._serve_http(reader, writer, peer, buf)
        elif kind is Protocol.LEGACY:
            await self._serve_legacy(reader, writer, peer, buf)
        else:  # an IP Messenger file request: pigeon serve offers nothing over it
            self.log(
                peer, "IPMSG", buf[:80].decode("utf-8", "replace"), 403, 0, time.perf_counter()
            )

    # ----- the tutorial's protocol -----------------------------------------------------------

    async def _serve_legacy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, buf: bytes
    ) -> None:
        start = time.perf_counter()
        # The name may arrive in several segments; it ends at a newline, a pause, or EOF.
        while not buf.endswith(b"\n") and len(buf) <= 1024:
            try:
                more = await self._read(reader, self.cfg.legacy_wait)
            except TimeoutError:
                break
            if not more:
                break
            buf += more
        shown = buf[:200].decode("utf-8", "replace")
        try:
            segments = legacy_name_segments(buf)
            found = self.root.lookup(segments)
        except (RefusedName, NotServed) as exc:
            status = exc.status if isinstance(exc, RefusedName) else _status(exc)
            self.log(peer, "LEGACY", shown, status, 0, start)
            return  # nothing sent: the tutorial's client then writes no file
        if isinstance(found, Directory):
            self.log(peer, "LEGACY", shown, 404, 0, start)
            return
        try:
            sent = await self._send_span(writer, FileSpan(found, 0, found.st.st_size))
            self.log(peer, "LEGACY", shown, 200, sent, start)
        finally:
            found.close()

    # ----- HTTP/1.1 --------------------------------------------------------------------------

    async def _serve_http(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, buf: bytes
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.cfg.max_header_bytes)
        conn.receive_data(buf)
        task = asyncio.current_task()
        protocol = writer.transport.get_protocol()
        lane = protocol if isinstance(protocol, _Lane) else None
        if lane is not None:
            lane.peer = peer
        fresh: bytes | None = buf  # the bytes of a request that came whole in one read
        while True:
            try:
                event, fresh = await self._next_request(conn, reader, task, lane, fresh)
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                if status == 431 and b"\n" not in buf:
                    status = 414
                await self._send_error(conn, writer, status, peer, "-", "-")
                await self._lingering_close(reader, writer)
                return
            except TimeoutError:
                if conn.their_state is h11.SEND_BODY or (
                    conn.their_state is h11.IDLE and conn.trailing_data[0]
                ):
                    await self._send_error(conn, writer, 408, peer, "-", "-")
                    await self._lingering_close(reader, writer)
                return
            if event is None:
                return
            await self._respond(conn, writer, peer, event, fresh)
            if conn.our_state is h11.MUST_CLOSE or self.stopping:
                return
            if conn.trailing_data[0]:
                # pipelined requests already read would otherwise be answered without the
                # loop turning (a drain below the buffer limit does not yield): one
                # client's flood would hold every other connection back
                await asyncio.sleep(0)
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next_request(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        task: asyncio.Task[Any] | None,
        lane: _Lane | None,
        fresh: bytes | None,
    ) -> tuple[h11.Request | None, bytes | None]:
        """Read until a complete request head (its body, if any, is read and dropped).

        Returns the request and, when it came whole in one read on an idle connection, its
        raw bytes (``fresh``: what a remembered answer may later be keyed on).
        """
        request: h11.Request | None = None
        deadline: float | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                idle = request is None and not conn.trailing_data[0]
                if task is not None and task in self.connections:
                    self.connections[task] = idle
                if idle and self.stopping:
                    return None, None
                if deadline is None or idle:
                    deadline = time.monotonic() + (
                        self.cfg.idle_timeout if idle else self.cfg.header_timeout
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if idle and lane is not None:
                    data = await self._idle_read(reader, lane)
                else:
                    data = await self._read(reader, remaining)
                if task is not None and task in self.connections:
                    self.connections[task] = False
                fresh = data if idle else None
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                self._check_head_size(event)
                request = event
                deadline = time.monotonic() + self.cfg.header_timeout
            elif isinstance(event, h11.EndOfMessage):
                whole = fresh is not None and request is not None and not conn.trailing_data[0]
                return request, fresh if whole else None
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None, None

    async def _idle_read(self, reader: asyncio.StreamReader, lane: _Lane) -> bytes:
        """Wait for the next request with the fast lane open; idle time counts from the last
        answer the lane gave, so a connection busy with remembered answers stays open."""
        lane.last_active = time.monotonic()
        while True:
            remaining = lane.last_active + self.cfg.idle_timeout - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            lane.answer = self.answer_remembered
            try:
                return await self._read(reader, remaining)
            except TimeoutError:
                continue  # re-checked against the lane's last answer above
            finally:
                lane.answer = None

    def answer_remembered(self, lane: _Lane, data: bytes) -> bytes:
        """Answer the complete, remembered request heads at the start of ``data``.

        Called from the read callback while the connection is idle. Returns what is left for
        the connection's task (h11): from the first head that is incomplete, unknown, or whose
        file changed; or everything once the client stops reading its answers.
        """
        transport = lane.transport
        while data:
            if self.stopping or transport is None or transport.is_closing():
                return data
            if transport.get_write_buffer_size() > WRITE_HIGH:
                return data
            end = data.find(b"\r\n\r\n") + 4
            if end < 4:
                return data
            head = data if end == len(data) else data[:end]
            entry = self.memo.get(head)
            if entry is None:
                return data
            start = time.perf_counter()
            try:
                st = os.stat(entry.path)  # noqa: PTH116 (hot path: no Path object per hit)
            except OSError:
                self.memo.forget(head)
                return data
            if _version(st) != entry.version:
                self.memo.forget(head)
                return data
            dated = entry.dated(self.clock.now())
            if dated is not entry:  # the second changed: remembered with the new date
                self.memo.put(head, dated)
            transport.write(dated.response)
            lane.last_active = time.monotonic()
            self.log(
                lane.peer, entry.method, entry.target, entry.status, entry.body_bytes, start, True
            )
            data = data[end:]
        return data

    def _remember(
        self, fresh: bytes, req: h11.Request, file: OpenFile, path: str, response: bytes, sent: int
    ) -> None:
        """Remember a small file's whole answer for its request head, when both qualify."""
        st = file.st
        if not head_qualifies(fresh, req) or not settled(
            st.st_mtime_ns, st.st_ctime_ns, time.time(), SETTLED
        ):
            return
        self.memo.put(
            fresh,
            Remembered(
                path=path,
                version=_version(st),
                response=response,
                method=req.method.decode("ascii"),
                target=req.target.decode("utf-8", "replace"),
                status=int(response[9:12]),
                body_bytes=sent,
                date_at=date_offset(response),
            ),
        )

    def _check_head_size(self, request: h11.Request) -> None:
        """h11 bounds only incomplete heads; apply the same limits to complete ones."""
        if len(request.target) > self.cfg.max_header_bytes:
            raise h11.RemoteProtocolError("request target too long", error_status_hint=414)
        head = (
            len(request.method)
            + len(request.target)
            + sum(len(k) + len(v) + 4 for k, v in request.headers)
        )
        if head > self.cfg.max_header_bytes:
            raise h11.RemoteProtocolError("request head too large", error_status_hint=431)

    async def _send_error(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        peer: str,
        method: str,
        path: str,
    ) -> None:
        start = time.perf_counter()
        body = f"{status} {REASONS.get(status, 'Error')}\n".encode()
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            headers = [
                (b"Date", self.clock.now()),
                (b"Content-Type", b"text/plain; charset=utf-8"),
                (b"Content-Length", str(len(body)).encode()),
                (b"Connection", b"close"),
            ]
            with contextlib.suppress(h11.LocalProtocolError):
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                writer.write(conn.send(h11.Data(data=body)))
                writer.write(conn.send(h11.EndOfMessage()))
                await drained(writer, self.cfg.stall_timeout)
        self.log(peer, method, path, status, len(body), start)

    async def _respond(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        peer: str,
        req: h11.Request,
        fresh: bytes | None = None,
    ) -> None:
        ex = _Exchange(
            peer, req.method.decode("ascii", "replace"), req.target.decode("utf-8", "replace")
        )
        try:
            await self._answer(conn, writer, req, fresh, ex)
        except BaseException:
            if not ex.logged:
                sent = ex.span.sent if ex.span is not None else ex.sent
                self.log(peer, ex.method, ex.target, ex.status, sent, ex.start, cut=True)
            raise

    async def _answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        req: h11.Request,
        fresh: bytes | None,
        ex: _Exchange,
    ) -> None:
        served: tuple[OpenFile, str] | None = None  # the file answered from, and its path
        method, peer = ex.method, ex.peer
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
        base: list[tuple[bytes, bytes]] = [(b"Server", SERVER_HEADER), (b"Date", self.clock.now())]
        if self.stopping:
            base.append((b"Connection", b"close"))

        async def reply(
            status: int,
            extra: list[tuple[str, str]],
            body: bytes | FileSpan | AsyncIterator[bytes] | None,
            length: int | None = None,
            follow: Follow | None = None,
        ) -> int:
            """Send an answer; with ``follow``, chunked with the digest as its trailer.

            An iterator's pieces are sent as they come, chunked (its length is not known);
            ``None`` with ``length=None`` is the head of such an answer (HEAD of a listing).
            """
            streamed = length is None and not isinstance(body, bytes | FileSpan)
            small = follow is None and isinstance(body, FileSpan) and body.count <= SMALL_BODY
            if isinstance(body, FileSpan) and (method == "HEAD" or small):
                length = body.count
                body = None if method == "HEAD" else self._read_small(body)
            hdrs = base + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
            out = bytearray()
            if isinstance(body, bytes | FileSpan):
                length = len(body)
            if follow is None and not streamed and status != 304:
                # a 304 has no body; a Content-Length on it would have to be the 200's
                hdrs.append((b"Content-Length", str(length or 0).encode()))
            out += conn.send(
                h11.Response(
                    status_code=status, headers=hdrs, reason=REASONS.get(status, "").encode()
                )
            )
            ex.status = status
            whole = True  # the answer is all in ``out``
            end = h11.EndOfMessage()
            if body is None or method == "HEAD":
                pass
            elif not isinstance(body, bytes | FileSpan):
                whole = False
                writer.write(out)
                out = bytearray()
                try:
                    async for piece in body:
                        await write_within(writer, conn.send(h11.Data(data=piece)), stall)
                        ex.sent += len(piece)
                except BaseException:
                    # cut mid-page: a reset, since to an HTTP/1.0 client (no chunking, the
                    # end is the close) a FIN would make the cut page look complete
                    reset(writer.transport)
                    raise
            elif len(body):
                if isinstance(body, FileSpan):
                    whole = False
                    ex.span = body
                    writer.write(out)
                    out = bytearray()
                    data = h11.Data(data=cast(bytes, body))
                    for part in conn.send_with_data_passthrough(data) or []:
                        if cast(object, part) is body:
                            await self._send_span(writer, body, follow)
                        else:
                            writer.write(part)
                    if follow is not None:  # cut when the file changed meanwhile: no trailer
                        digest = await follow.digest(body.file, self.cfg.stall_timeout)
                        if digest is None:
                            raise ShortBody  # never a false "verified"
                        end = h11.EndOfMessage(headers=[("Repr-Digest", repr_digest(digest))])
                else:
                    out += conn.send(h11.Data(data=body))
                    ex.sent = len(body)
            out += conn.send(end)
            writer.write(out)  # one write: head, small body and end together (or the end)
            sent = ex.span.sent if ex.span is not None else ex.sent
            if whole and served and fresh and conn.our_state is h11.DONE and not self.stopping:
                self._remember(fresh, req, served[0], served[1], bytes(out), sent)
            await write_within(writer, b"", stall)
            ex.logged = True
            self.log(peer, method, ex.target, status, sent, ex.start)
            return sent

        def text(status: int) -> bytes:
            return f"{status} {REASONS.get(status, '')}\n".encode()

        stall = self.cfg.stall_timeout
        plain = [("Content-Type", "text/plain; charset=utf-8")]
        if method not in ("GET", "HEAD"):
            await reply(405, [*plain, ("Allow", "GET, HEAD")], text(405))
            return
        try:
            segments, query, trailing = url_path_segments(req.target)
            found = self.root.lookup(segments)
        except RefusedName as exc:
            await reply(exc.status if exc.status != 414 else 414, plain, text(exc.status))
            return
        except NotServed as exc:
            await reply(_status(exc), plain, text(_status(exc)))
            return
        if isinstance(found, Directory):
            if not trailing and segments:
                # built from the decoded segments, never echoed: "//host" would be a
                # protocol-relative Location (an open redirect)
                _, mark, raw_query = req.target.partition(b"?")
                location = "/" + "".join(quote(seg, safe="") + "/" for seg in segments)
                location += (mark + raw_query).decode("latin-1")
                await reply(301, [*plain, ("Location", location)], text(301))
                return
            as_json = wants_json(headers.get("accept"), query)
            kind = "application/json" if as_json else "text/html; charset=utf-8"
            page_headers = [("Content-Type", kind), ("Cache-Control", "no-cache")]
            if method == "HEAD":  # the head of the page, without listing the folder
                if not os.access(found.path, os.R_OK | os.X_OK):
                    await reply(403, plain, text(403))
                else:
                    await reply(200, page_headers, None)
                return
            try:
                listing = await self._listing(found)
            except NotServed as exc:
                await reply(_status(exc), plain, text(_status(exc)))
                return
            if not self._hold(listing):
                await reply(503, plain, b"server busy: too many folder pages in flight\n")
                return
            try:
                path = "/" + "".join(s + "/" for s in segments)
                page = ListingPage(path, as_json=as_json)
                digests = as_json and "digest=sha-256" in query.split("&")
                await reply(200, page_headers, self._page(page, listing, found, digests))
            finally:
                self._let_go(listing)
            return
        served = (found, str(self.root.path.joinpath(*segments)))
        try:
            chunked_ok = method == "GET" and req.http_version == b"1.1"
            await self._respond_file(found, headers, reply, chunked_ok)
        finally:
            found.close()

    async def _listing(self, directory: Directory) -> Listing:
        """The folder's listing, made in a worker thread and shared (``LISTING_FRESH``)."""
        try:
            st = directory.path.stat()
        except OSError:
            raise NotFound() from None
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        now = time.monotonic()
        for old, (made, job) in list(self.listings.items()):
            if job.done() and now - made > LISTING_FRESH:
                del self.listings[old]
        if (shared := self.listings.get(key)) is None:
            job = asyncio.get_running_loop().run_in_executor(
                self.listing_pool, self.root.list_dir, directory, self.cfg.max_listing
            )
            job.add_done_callback(lambda j: j.cancelled() or j.exception())  # seen by someone
            shared = self.listings[key] = (now, job)
        return await asyncio.shield(shared[1])

    def _hold(self, listing: Listing) -> bool:
        """Count a page being sent from ``listing``; False when that would take the entries
        held by pages in flight past ``LISTINGS_HELD`` listings' worth (a crowd of slow
        readers, each arriving after the last listing was made, must not hold one each)."""
        held = self.held.get(id(listing))
        if held is not None:
            held[1] += 1
            return True
        load = sum(len(other.entries) for other, _ in self.held.values())
        if self.held and load + len(listing.entries) > LISTINGS_HELD * self.cfg.max_listing:
            return False
        self.held[id(listing)] = [listing, 1]
        return True

    def _let_go(self, listing: Listing) -> None:
        held = self.held[id(listing)]
        held[1] -= 1
        if not held[1]:
            del self.held[id(listing)]

    async def _page(
        self, page: ListingPage, listing: Listing, directory: Directory, digests: bool
    ) -> AsyncIterator[bytes]:
        """The listing page in pieces of ``LISTING_BATCH`` rows (the event loop runs between)."""
        yield page.start()
        for start in range(0, len(listing.entries), LISTING_BATCH):
            batch = list(listing.entries[start : start + LISTING_BATCH])
            if digests:
                batch = await self._with_digests(directory, batch)
            yield page.rows(batch)
            await asyncio.sleep(0)
        yield page.end(listing)

    async def _with_digests(self, directory: Directory, entries: list[Any]) -> list[Any]:
        """The listing's entries with the digests known or cheap now (``Digests.listed``),
        a batch of files open at a time (a folder of 100,000 must not exhaust descriptors)."""
        import dataclasses

        base = directory.path.relative_to(self.root.path).parts
        out = list(entries)
        for start in range(0, len(entries), LISTING_BATCH):
            opened: dict[int, OpenFile] = {}
            try:
                for index in range(start, min(start + LISTING_BATCH, len(entries))):
                    if entries[index].is_dir:
                        continue
                    try:
                        found = self.root.lookup([*base, entries[index].name])
                    except NotServed:
                        continue
                    if isinstance(found, OpenFile):
                        opened[index] = found
                digests = await self.digests.listed(list(opened.values()))
            finally:
                for file in opened.values():
                    file.close()
            for index, digest in zip(opened, digests, strict=True):
                if digest is not None:
                    out[index] = dataclasses.replace(entries[index], digest=digest.hex())
        return out

    async def _respond_file(
        self, file: OpenFile, headers: dict[str, str], reply: Any, chunked_ok: bool
    ) -> None:
        st = file.st
        size = st.st_size
        etag = make_etag(st.st_dev, st.st_ino, size, st.st_mtime_ns)
        last_modified = http_date(st.st_mtime)
        common = [("ETag", etag), ("Last-Modified", last_modified), ("Accept-Ranges", "bytes")]
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if inm is not None:
            not_modified = etag_matches(inm, etag)
        elif ims is not None:
            since = parse_http_date(ims)
            not_modified = since is not None and int(st.st_mtime) <= since
        else:
            not_modified = False
        if not_modified:
            await reply(304, common, None, 0)
            return
        want_digest = "want-repr-digest" in headers
        known = self.digests.known(file) if want_digest else None
        if known is not None:
            common.append(("Repr-Digest", repr_digest(known)))
        range_header = headers.get("range")
        if_range = headers.get("if-range")
        if range_header is not None and if_range is not None:
            if if_range.startswith(('"', 'W/"')):
                range_header = range_header if if_range == etag else None
            else:
                since = parse_http_date(if_range)
                range_header = (
                    range_header if since is not None and int(st.st_mtime) == int(since) else None
                )
        ctype = ("Content-Type", content_type(file.name))
        try:
            byte_range = parse_range(range_header, size)
        except Unsatisfiable:
            await reply(
                416,
                [
                    *common,
                    ("Content-Range", f"bytes */{size}"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                b"416 Range Not Satisfiable\n",
            )
            return
        if byte_range is None:
            span, extra = FileSpan(file, 0, size), [ctype]
        else:
            span = FileSpan(file, byte_range.start, byte_range.length)
            extra = [ctype, ("Content-Range", byte_range.content_range())]
        follow = None
        if want_digest and known is None:  # never a whole-file hash before the first byte
            known, follow = await self.digests.for_answer(
                file, span.offset, span.count, chunked_ok and span.count > 0
            )
            if known is not None:
                common.append(("Repr-Digest", repr_digest(known)))
            elif follow is not None:  # chunked: the size as a header, the digest as trailer
                common += [("Repr-Length", str(size)), ("Trailer", "Repr-Digest")]
        try:
            await reply(200 if byte_range is None else 206, [*common, *extra], span, follow=follow)
        finally:
            if follow is not None:
                follow.leave()

    # ----- bodies ------------------------------------------------------------------------------

    def _read_small(self, span: FileSpan) -> bytes:
        """The whole (small) span; raises ShortBody when the file was truncated meanwhile."""
        data = os.pread(span.file.fd, span.count, span.offset)
        if len(data) != span.count:
            raise ShortBody
        return data

    async def _send_span(
        self, writer: asyncio.StreamWriter, span: FileSpan, follow: Follow | None = None
    ) -> int:
        """Send a file span; raises ShortBody when the file ends early (truncated meanwhile)."""
        return await send_span(
            writer,
            span,
            use_sendfile=self.cfg.use_sendfile,
            stall_timeout=self.cfg.stall_timeout,
            progress=None if follow is None else follow.sent,
        )

    # ----- lifetime --------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop: close idle keep-alive connections now, give busy ones ``grace`` seconds.

        Answers still going after that are cut (each logged as such) and one line says how
        many; background digests stop.
        """
        self.stopping = True
        for task, idle in list(self.connections.items()):
            if idle:
                task.cancel()
        busy = list(self.connections)
        if busy:
            _done, pending = await asyncio.wait(busy, timeout=self.cfg.grace)
            if pending:
                n = len(pending)
                self.emit(Notice(f"stopping: {plural(n, 'transfer')} cut after the grace period"))
                for task in pending:  # sends fail now, their logs saying how far they got
                    if (sock := self.sockets.get(task)) is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                _done, pending = await asyncio.wait(pending, timeout=1)
            for task in pending:  # still waiting for something else (a digest, say)
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        await self.digests.close()
        self.listing_pool.shutdown(wait=False, cancel_futures=True)


async def run_serve(cfg: ServeConfig, emit: Emit) -> int:
    """Serve until SIGINT or SIGTERM; returns 0 after a graceful stop."""
    server_state = FileServer(cfg, emit)
    sock = await bound_socket(cfg.bind, cfg.port, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()

    def lane() -> _Lane:
        reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
        return _Lane(reader, server_state.on_connect, loop=loop)

    server = await loop.create_server(lane, sock=sock, backlog=1024)
    emit(
        listening(
            sock,
            protocol="tcp",
            bind=cfg.bind,
            hint="pigeon get {host}:{port} FILE   or   curl -O http://{host}:{port}/FILE",
        )
    )
    emit(Notice(f"sharing {server_state.root.path} (read-only); Ctrl-C stops"))
    stop = asyncio.Event()
    loop.set_exception_handler(AcceptPressure(emit))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        server.close()
        await server_state.shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await server.wait_closed()
    emit(Notice(f"stopped after {plural(server_state.requests, 'request')}"))
    return 0
