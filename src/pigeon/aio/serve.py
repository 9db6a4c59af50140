"""``pigeon serve``: one TCP port, three protocols, bodies sent with zero-copy sendfile.

A connection's first bytes pick the protocol (``proto.classify``): HTTP/1.1 through h11, or
the tutorial's bare file name (``aio.legacy_serve``: the raw bytes, or the close with nothing
sent). Here are the connections' lives: accepting, sniffing, the h11 loop, shutdown. What an
HTTP request is answered is planned by ``proto.http.respond`` and carried out by
``aio.serve_files``; identical request heads on an idle connection are answered from memory
(``aio.serve_memo``). Every read has a timeout, every buffer a bound; one slow or vanished
client costs the others nothing. SIGINT/SIGTERM stop accepting and give transfers in flight
``grace`` seconds, then cut them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import socket
import time
from typing import Any

import h11

from pigeon.aio.accept import AcceptPressure
from pigeon.aio.announce import listening
from pigeon.aio.digesting import Digests
from pigeon.aio.filesend import ShortBody
from pigeon.aio.legacy_serve import serve_legacy
from pigeon.aio.pace import closed, drained
from pigeon.aio.serve_files import Exchange, FileAnswers
from pigeon.aio.serve_io import READ_SIZE, AccessLog, ServeClock, read_some
from pigeon.aio.serve_memo import Lane, RememberedAnswers
from pigeon.aio.sockets import bound_socket, limit_silence, peer_text, reset
from pigeon.config import ServeConfig
from pigeon.events import Emit, Notice
from pigeon.fs.digest_store import DigestStore
from pigeon.fs.digests import DigestCache
from pigeon.fs.root import ConfinedRoot
from pigeon.proto.classify import Protocol, classify, might_be_http
from pigeon.proto.http.respond import (
    TEXT,
    Found,
    outcome_status,
    over_limit,
    oversized,
    status_text,
)
from pigeon.proto.text import plural

CLOSE_WAIT = 2.0
"""Seconds an error answer to a connection over the limit may take, close included."""


class FileServer:
    """The state shared by all connections of one ``pigeon serve``.

    ``clock`` is the wall clock (``aio.serve_io.ServeClock``); deadlines follow the event
    loop's own clock.
    """

    def __init__(self, cfg: ServeConfig, emit: Emit, clock: ServeClock | None = None) -> None:
        self.cfg = cfg
        self.emit = emit
        self.clock = clock or ServeClock()
        self.root = ConfinedRoot(cfg.root, follow_symlinks=cfg.follow_symlinks, hidden=cfg.hidden)
        store = None
        if cfg.digest_cache:
            store = DigestStore(cfg.digest_cache, lambda text: emit(Notice(f"warning: {text}")))
        self.digests = Digests(DigestCache(store=store))
        self.log = AccessLog(emit, self.clock, quiet=cfg.quiet, as_json=cfg.log_json)
        self.remembered = RememberedAnswers(self.clock, self.log)
        self.files = FileAnswers(cfg, self.root, self.digests, self.clock)
        self.connections: dict[asyncio.Task[None], bool] = {}  # task -> idle between requests
        self.sockets: dict[asyncio.Task[None], Any] = {}  # task -> its transport's socket
        self.stopping = False

    async def listen(self, sock: socket.socket) -> asyncio.Server:
        """Serve connections on the bound ``sock`` (each with the fast lane, ``Lane``)."""
        loop = asyncio.get_running_loop()

        def lane() -> Lane:
            reader = asyncio.StreamReader(limit=READ_SIZE, loop=loop)
            return Lane(reader, self.on_connect, loop=loop)

        return await loop.create_server(lane, sock=sock, backlog=1024)

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
            writer.write(over_limit(self.clock.date()))
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

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        buf = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.header_timeout
        kind = Protocol.NEED_MORE
        while kind is Protocol.NEED_MORE:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return  # sent nothing: dropped
            try:
                # a bare name that could still become "GET " waits as long as a request head
                short = buf and not might_be_http(buf)
                data = await read_some(
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
            await serve_legacy(self.cfg, self.root, self.log, reader, writer, peer, buf)
        else:  # an IP Messenger file request: pigeon serve offers nothing over it
            shown, refused = buf[:80].decode("utf-8", "replace"), outcome_status(Found.REFUSED)
            self.log(peer, "IPMSG", shown, refused, 0, time.perf_counter())

    # ----- HTTP/1.1 --------------------------------------------------------------------------

    async def _serve_http(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, buf: bytes
    ) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.cfg.max_header_bytes)
        conn.receive_data(buf)
        task = asyncio.current_task()
        protocol = writer.transport.get_protocol()
        lane = protocol if isinstance(protocol, Lane) else None
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
        lane: Lane | None,
        fresh: bytes | None,
    ) -> tuple[h11.Request | None, bytes | None]:
        """Read until a complete request head (its body, if any, is read and dropped).

        Returns the request and, when it came whole in one read on an idle connection, its
        raw bytes (``fresh``: what a remembered answer may later be keyed on).
        """
        request: h11.Request | None = None
        deadline: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                idle = request is None and not conn.trailing_data[0]
                if task is not None and task in self.connections:
                    self.connections[task] = idle
                if idle and self.stopping:
                    return None, None
                if deadline is None or idle:
                    deadline = loop.time() + (
                        self.cfg.idle_timeout if idle else self.cfg.header_timeout
                    )
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                if idle and lane is not None:  # the fast lane's one seam
                    data = await self.remembered.idle_read(reader, lane, self.cfg.idle_timeout)
                else:
                    data = await read_some(reader, remaining)
                if task is not None and task in self.connections:
                    self.connections[task] = False
                fresh = data if idle else None
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                # h11 bounds only incomplete heads; the same limits apply to complete ones
                limit = self.cfg.max_header_bytes
                if status := oversized(event.method, event.target, event.headers, limit):
                    raise h11.RemoteProtocolError("request head too large", status)
                request = event
                deadline = loop.time() + self.cfg.header_timeout
            elif isinstance(event, h11.EndOfMessage):
                whole = fresh is not None and request is not None and not conn.trailing_data[0]
                return request, fresh if whole else None
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None, None

    async def _send_error(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        peer: str,
        method: str,
        path: str,
    ) -> None:
        """Answer a request h11 could not take (400, 408, 414, 431), then the connection ends."""
        start = time.perf_counter()
        body = status_text(status)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            headers = [
                (b"Date", self.clock.date()),
                (b"Content-Type", TEXT.encode()),
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
        """Answer one request; a whole small answer to a request that came in one read
        (``fresh``), and came before, may be remembered for the same bytes."""
        ex = Exchange(req.method.decode("ascii", "replace"), req.target.decode("utf-8", "replace"))
        keep = None
        if fresh is not None and self.remembered.asked_again(fresh):
            keep = functools.partial(self.remembered.remember, fresh, req)
        try:
            await self.files.answer(conn, writer, req, ex, self.stopping, keep)
        except BaseException:
            self.log(peer, ex.method, ex.target, ex.status, ex.body_sent, ex.start, cut=True)
            raise
        self.log(peer, ex.method, ex.target, ex.status, ex.body_sent, ex.start)

    # ----- lifetime --------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop: close idle keep-alive connections now, give busy ones ``grace`` seconds.

        Answers still going after that are cut (each logged as such) and one line says how
        many; background digests stop.
        """
        self.stopping = True
        self.remembered.closed = True
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
        self.files.close()


async def run_serve(cfg: ServeConfig, emit: Emit) -> int:
    """Serve until SIGINT or SIGTERM; returns 0 after a graceful stop."""
    server_state = FileServer(cfg, emit)
    sock = await bound_socket(cfg.bind, cfg.port, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    server = await server_state.listen(sock)
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
    emit(Notice(f"stopped after {plural(server_state.log.requests, 'request')}"))
    return 0
