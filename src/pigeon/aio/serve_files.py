"""Answering one HTTP request of ``pigeon serve``: the facts gathered, the plan carried out.

``FileAnswers.answer`` reads the request (``proto.http.respond``), looks its path up in the
shared folder, hands the facts to ``plan_response`` and sends what the plan says: a short
text, a file span (one pread and one write when small, else ``loop.sendfile`` with the digest
hashed alongside for a trailer, ``aio.digesting``), or a folder page made in a worker thread
and sent in pieces. Every decision about the answer is the plan's; how its bytes travel is
decided here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import assert_never, cast

import h11

from pigeon import __version__
from pigeon.aio.digesting import Digests, Follow
from pigeon.aio.filesend import FileSpan, ShortBody, send_span
from pigeon.aio.pace import write_within
from pigeon.aio.serve_io import ServeClock
from pigeon.aio.sockets import reset
from pigeon.config import ServeConfig
from pigeon.fs.root import ConfinedRoot, Directory, NotFound, NotServed, OpenFile, content_type
from pigeon.proto.http.listing import Listing, ListingEntry, ListingPage
from pigeon.proto.http.respond import (
    MISSING,
    REFUSED,
    Asked,
    Facts,
    FileRange,
    Found,
    ListingBody,
    NoBody,
    Plan,
    Text,
    busy,
    digest_trailer,
    plan_response,
    read_request,
    with_digest,
)

SERVER_HEADER = f"pigeon/{__version__}".encode()
SMALL_BODY = 64 << 10
"""Bodies up to this size are read with one pread and written with the head in one write:
cheaper than setting up sendfile for a few KiB."""
LISTING_BATCH = 256
"""Listing rows rendered and sent at a time (and files opened at a time for their digests)."""
LISTING_FRESH = 1.0
"""Seconds a folder's listing is shared by the requests that ask for it: concurrent requests
for one big folder cost one scan, and any number of slow clients hold one copy. A file may
change size meanwhile without the folder changing; the page is then up to this old."""
LISTINGS_HELD = 4
"""Pages in flight hold at most this many full listings' worth of entries (``--max-listing``
each); a page beyond is answered 503."""

Keep = Callable[[os.stat_result, str, bytes, int], None]
"""Told a file's whole answer (the file's stat and path, the answer's bytes, its body size)."""


class Exchange:
    """One request and how far its answer got (what the access log says if it is cut)."""

    __slots__ = ("method", "sent", "span", "start", "status", "target")

    def __init__(self, method: str, target: str) -> None:
        self.method, self.target = method, target
        self.start = time.perf_counter()
        self.status = 0  # no head sent yet
        self.sent = 0
        self.span: FileSpan | None = None

    @property
    def body_sent(self) -> int:
        """Body bytes sent so far."""
        return self.span.sent if self.span is not None else self.sent


def _not_served(exc: NotServed) -> Facts:
    return MISSING if isinstance(exc, NotFound) else REFUSED


def _file_facts(file: OpenFile, asked: Asked, digests: Digests) -> Facts:
    st = file.st
    return Facts(
        found=Found.FILE,
        size=st.st_size,
        mtime=st.st_mtime,
        mtime_ns=st.st_mtime_ns,
        dev=st.st_dev,
        ino=st.st_ino,
        content_type=content_type(file.name),
        digest=digests.known(file) if asked.wants_digest else None,
    )


class FileAnswers:
    """Carries out the plans of one ``pigeon serve``'s HTTP answers."""

    def __init__(
        self, cfg: ServeConfig, root: ConfinedRoot, digests: Digests, clock: ServeClock
    ) -> None:
        self.cfg, self.root, self.digests, self.clock = cfg, root, digests, clock
        self.listings: dict[tuple[int, ...], tuple[float, asyncio.Future[Listing]]] = {}
        self.held: dict[int, tuple[Listing, int]] = {}  # id -> listing, pages sent from it
        # folders are listed in threads of their own: a crowd of big or slow folders must
        # not queue ahead of the file reads that share the default pool
        self.listing_pool = concurrent.futures.ThreadPoolExecutor(2, "pigeon-listing")

    async def answer(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        req: h11.Request,
        ex: Exchange,
        closing: bool,
        keep: Keep | None,
    ) -> None:
        """Answer ``req``; a file's answer sent whole in one write is told to ``keep``."""
        asked = read_request(req.method, req.target, req.headers, req.http_version)
        if isinstance(asked, Plan):
            await self.send(conn, writer, ex, asked, closing)
            return
        try:
            found = self.root.lookup(asked.segments)
        except NotServed as exc:
            await self.send(conn, writer, ex, plan_response(asked, _not_served(exc)), closing)
            return
        if isinstance(found, Directory):
            await self._folder(conn, writer, ex, asked, found, closing)
            return
        try:
            plan = plan_response(asked, _file_facts(found, asked, self.digests))
            follow = None
            if plan.digest is not None:  # never a whole-file hash before the first byte
                ask = plan.digest
                digest, follow = await self.digests.for_answer(
                    found, ask.offset, ask.count, ask.trailer_ok
                )
                plan = with_digest(plan, digest, follow is not None)
            try:
                whole = await self.send(conn, writer, ex, plan, closing, file=found, follow=follow)
            finally:
                if follow is not None:
                    follow.leave()
            if whole is not None and keep is not None:
                path = str(self.root.path.joinpath(*asked.segments))
                keep(found.st, path, whole, ex.body_sent)
        finally:
            found.close()

    async def _folder(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        ex: Exchange,
        asked: Asked,
        directory: Directory,
        closing: bool,
    ) -> None:
        readable = os.access(directory.path, os.R_OK | os.X_OK)
        plan = plan_response(asked, Facts(found=Found.FOLDER, readable=readable))
        body = plan.body
        if not isinstance(body, ListingBody):
            await self.send(conn, writer, ex, plan, closing)
            return
        try:
            listing = await self._listing(directory)
        except NotServed as exc:
            await self.send(conn, writer, ex, plan_response(asked, _not_served(exc)), closing)
            return
        if not self._hold(listing):
            await self.send(conn, writer, ex, busy(asked.head), closing)
            return
        try:
            page = ListingPage(body.path, as_json=body.as_json, dot_files=self.cfg.hidden)
            pieces = self._page(page, listing, directory, body.digests)
            await self.send(conn, writer, ex, plan, closing, pieces=pieces)
        finally:
            self._let_go(listing)

    async def send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        ex: Exchange,
        plan: Plan,
        closing: bool,
        *,
        file: OpenFile | None = None,
        follow: Follow | None = None,
        pieces: AsyncIterator[bytes] | None = None,
    ) -> bytes | None:
        """Send ``plan``'s answer (its file span from ``file``, its page from ``pieces``);
        with ``follow``, chunked with the digest as its trailer. One write when it is small:
        then returns the whole answer's bytes (what may be remembered)."""
        body = plan.body
        small: bytes | None = None
        if isinstance(body, FileRange) and follow is None and body.count <= SMALL_BODY:
            assert file is not None
            small = self._read_small(file, body)
        hdrs = [(b"Server", SERVER_HEADER), (b"Date", self.clock.date())]
        if closing:
            hdrs.append((b"Connection", b"close"))
        hdrs += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.fields]
        if plan.length is not None:
            hdrs.append((b"Content-Length", str(plan.length).encode()))
        response = h11.Response(status_code=plan.status, headers=hdrs, reason=plan.reason.encode())
        out = bytearray(conn.send(response))
        ex.status = plan.status
        end = h11.EndOfMessage()
        whole = True  # the answer is all in ``out``
        match body:
            case NoBody():
                pass
            case Text(data=data):
                out += conn.send(h11.Data(data=data))
                ex.sent = len(data)
            case FileRange() if small is not None:
                out += conn.send(h11.Data(data=small))
                ex.sent = len(small)
            case FileRange(offset=offset, count=count):
                assert file is not None
                writer.write(out)
                end = await self._send_span(conn, writer, ex, FileSpan(file, offset, count), follow)
                out = bytearray()
                whole = False
            case ListingBody():
                assert pieces is not None
                writer.write(out)
                await self._send_pieces(conn, writer, ex, pieces)
                out = bytearray()
                whole = False
            case _:
                assert_never(body)
        out += conn.send(end)
        writer.write(out)  # one write: head, small body and end together (or the end)
        await write_within(writer, b"", self.cfg.stall_timeout)
        return bytes(out) if whole and conn.our_state is h11.DONE else None

    async def _send_span(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        ex: Exchange,
        span: FileSpan,
        follow: Follow | None,
    ) -> h11.EndOfMessage:
        """Send a span through h11's framing; returns the message's end (with the trailer)."""
        ex.span = span
        data = h11.Data(data=cast(bytes, span))
        for part in conn.send_with_data_passthrough(data) or []:
            if cast(object, part) is span:
                await send_span(
                    writer,
                    span,
                    use_sendfile=self.cfg.use_sendfile,
                    stall_timeout=self.cfg.stall_timeout,
                    progress=None if follow is None else follow.sent,
                )
            else:
                writer.write(part)
        if follow is None:
            return h11.EndOfMessage()
        # cut when the file changed meanwhile: no trailer, never a false "verified"
        digest = await follow.digest(span.file, self.cfg.stall_timeout)
        if digest is None:
            raise ShortBody
        return h11.EndOfMessage(headers=digest_trailer(digest))

    async def _send_pieces(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        ex: Exchange,
        pieces: AsyncIterator[bytes],
    ) -> None:
        """Send a page's pieces as they are made (chunked: its length is not known)."""
        try:
            async for piece in pieces:
                data = conn.send(h11.Data(data=piece))
                await write_within(writer, data, self.cfg.stall_timeout)
                ex.sent += len(piece)
        except BaseException:
            # cut mid-page: a reset, since to an HTTP/1.0 client (no chunking, the end is
            # the close) a FIN would make the cut page look complete
            reset(writer.transport)
            raise

    @staticmethod
    def _read_small(file: OpenFile, body: FileRange) -> bytes:
        """The whole (small) span; raises ShortBody when the file was truncated meanwhile."""
        data = os.pread(file.fd, body.count, body.offset)
        if len(data) != body.count:
            raise ShortBody
        return data

    # ----- folder pages ------------------------------------------------------------------

    async def _listing(self, directory: Directory) -> Listing:
        """The folder's listing, made in a worker thread and shared (``LISTING_FRESH``)."""
        try:
            st = directory.path.stat()
        except OSError:
            raise NotFound() from None
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        loop = asyncio.get_running_loop()
        now = loop.time()
        for old, (made, job) in list(self.listings.items()):
            if job.done() and now - made > LISTING_FRESH:
                del self.listings[old]
        if (shared := self.listings.get(key)) is None:
            job = loop.run_in_executor(
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
            self.held[id(listing)] = (listing, held[1] + 1)
            return True
        load = sum(len(other.entries) for other, _ in self.held.values())
        if self.held and load + len(listing.entries) > LISTINGS_HELD * self.cfg.max_listing:
            return False
        self.held[id(listing)] = (listing, 1)
        return True

    def _let_go(self, listing: Listing) -> None:
        _, pages = self.held[id(listing)]
        if pages > 1:
            self.held[id(listing)] = (listing, pages - 1)
        else:
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

    async def _with_digests(
        self, directory: Directory, entries: list[ListingEntry]
    ) -> list[ListingEntry]:
        """The listing's entries with the digests known or cheap now (``Digests.listed``),
        a batch of files open at a time (a folder of 100,000 must not exhaust descriptors)."""
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

    def close(self) -> None:
        """Stop listing folders (the server stops)."""
        self.listing_pool.shutdown(wait=False, cancel_futures=True)
