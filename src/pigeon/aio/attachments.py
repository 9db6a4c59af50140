"""Chat attachments over TCP: serving our offers, and fetching the files others offer us.

An offer is a capability: a GETFILEDATA / GETDIRFILES is answered only for a (packet, file)
we offered, to the address we offered it to, until it is withdrawn (RELEASEFILES). Anything
else gets the connection closed with nothing sent. Bodies go out through ``filesend`` (the
same sendfile path as ``pigeon serve``); downloads come in through ``bulk`` into a ``.part``
that is renamed only when the size the offer announced has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pigeon.aio.bulk import Consume, receive_exactly
from pigeon.aio.fetch import Landing, Received, fetch_into_part, retrying
from pigeon.aio.filesend import FileSpan, ShortBody, send_span
from pigeon.aio.oserrors import lost, stalled
from pigeon.aio.pace import closed, flushed, write_within
from pigeon.aio.sockets import Resolved, peer_host, reset
from pigeon.aio.tcp import connect_socket
from pigeon.errors import (
    DestinationExists,
    PigeonError,
    ProtocolError,
    UsageError,
)
from pigeon.events import DownloadResult, Note, TransferKind, TransferNote
from pigeon.fs.partfile import PartFile, make_folder
from pigeon.fs.root import OpenFile
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.events import Addr
from pigeon.proto.classify import Protocol, classify
from pigeon.proto.http.fetch import PartState

REQUEST_TIMEOUT = 10.0
"""Seconds a connection may take to send its request."""
MAX_CONNECTIONS = 64
"""Connections on the attachment port served at once. Beyond, each is cut unanswered (a
reset: a pigeon fetcher retries): a peer opening hundreds cannot exhaust our file
descriptors. Peers fetch a few files at a time (pigeon: ``FETCHES_PER_PEER``)."""
PER_HOST = 8
"""Of those, one host's at most (twice what a pigeon fetcher opens): one host cannot take
every slot from the others."""
BUSY_REPORT_INTERVAL = 5.0
"""Seconds between lines about connections cut for being over ``MAX_CONNECTIONS``."""
STALL_TIMEOUT = 60.0
READ_SIZE = 65_536
RETRIES = 3


@dataclass
class OfferedFile:
    """One file or folder of one of our offers."""

    entry: files.FileEntry
    path: Path
    fetched: bool = False


@dataclass
class Offer:
    """Files we offered to ``peer`` in packet ``packet_no`` (``index`` is what /cancel uses)."""

    index: int
    peer: Addr
    files: dict[int, OfferedFile]
    packet_no: int = 0
    released: bool = False

    @property
    def complete(self) -> bool:
        """Every file has been fetched whole at least once."""
        return all(f.fetched for f in self.files.values())


def describe(paths: list[Path], first_id: int = 0) -> list[tuple[files.FileEntry, Path]]:
    """Offer entries for ``paths``.

    Raises:
        UsageError: a path is missing, unreadable, or neither a file nor a folder.
    """
    found: list[tuple[files.FileEntry, Path]] = []
    for number, path in enumerate(paths, start=first_id):
        try:
            st = path.stat()
        except OSError as exc:
            raise UsageError(f"cannot offer {path}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            attr, size = files.DIR, 0
        elif stat.S_ISREG(st.st_mode):
            attr, size = files.REGULAR, st.st_size
        else:
            raise UsageError(f"cannot offer {path}: not a regular file or a folder")
        if not os.access(path, os.R_OK):
            raise UsageError(f"cannot offer {path}: permission denied")
        name = path.resolve().name or "root"
        entry = files.FileEntry(number, files.check_name(name), size, int(st.st_mtime), attr)
        found.append((entry, path))
    return found


@dataclass
class OfferBook:
    """Our outgoing offers, by packet number."""

    offers: dict[int, Offer] = field(default_factory=dict)

    def add(self, index: int, peer: Addr, described: list[tuple[files.FileEntry, Path]]) -> Offer:
        """A new offer (registered once its packet number is known)."""
        return Offer(index, peer, {e.file_id: OfferedFile(e, p) for e, p in described})

    def register(self, offer: Offer, packet_no: int) -> None:
        offer.packet_no = packet_no
        self.offers[packet_no] = offer

    def by_index(self, index: int) -> Offer | None:
        return next((o for o in self.offers.values() if o.index == index), None)

    def lookup(
        self, ip: str, request: files.FileRequest, *, folder: bool
    ) -> tuple[Offer, OfferedFile]:
        """The offered file a request names, or UsageError saying why it is refused."""
        offer = self.offers.get(request.packet_id)
        if offer is None:
            raise UsageError(f"packet {request.packet_id:x} was never offered")
        if offer.released:
            raise UsageError(f"offer #{offer.index} was withdrawn")
        if offer.peer[0] != ip:
            raise UsageError(f"offer #{offer.index} was made to {offer.peer[0]}, not {ip}")
        for file_id in request.file_ids:
            item = offer.files.get(file_id)
            if item is not None and item.entry.is_dir == folder:
                return offer, item
        raise UsageError(f"offer #{offer.index} has no such {'folder' if folder else 'file'}")


class AttachmentServer:
    """Answers file requests on the chat's TCP port for the offers in ``book``."""

    def __init__(
        self,
        book: OfferBook,
        note: Note,
        *,
        encoding: str = "utf-8",
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.book = book
        self.note = note
        self.encoding = encoding
        self.max_connections = max_connections
        self.on_complete: Callable[[Offer], None] | None = None
        self.name_of: Callable[[Addr], str] = lambda addr: addr[0]
        """What a transfer line calls the peer an offer went to (the chat sets its name,
        so the sender's lines name the peer as the receiver's name the sender)."""
        self.active = 0
        self.per_host: Counter[str] = Counter()
        self.cut = 0
        """Connections cut for being over ``max_connections`` (all time)."""
        self._cut_unreported = 0
        self._reported = float("-inf")

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = peer_host(writer.get_extra_info("peername"))
        if self.active >= self.max_connections or self.per_host[ip] >= PER_HOST:
            # a reset (not a close, which would read as a refusal) tells a pigeon fetcher
            # to retry shortly; the descriptor is free at once
            reset(writer.transport)
            self._over_limit(ip)
            return
        self.active += 1
        self.per_host[ip] += 1
        try:
            await self._serve(reader, writer, ip)
        except TimeoutError:
            reset(writer.transport)  # a peer that took nothing for the stall timeout
        except (OSError, ShortBody, PigeonError):
            pass
        finally:
            try:
                await closed(writer, STALL_TIMEOUT)
            finally:
                self.active -= 1
                self.per_host[ip] -= 1
                if not self.per_host[ip]:
                    del self.per_host[ip]

    def _over_limit(self, ip: str) -> None:
        """Count a connection cut for being over the limit; one line now and then, not one
        per connection (a crowd of connections would otherwise be a crowd of lines)."""
        self.cut += 1
        self._cut_unreported += 1
        now = time.monotonic()
        if now - self._reported < BUSY_REPORT_INTERVAL:
            return
        since = f" ({self._cut_unreported} cut since the last report)" if self.cut > 1 else ""
        self._reported = now
        self._cut_unreported = 0
        detail = (
            f"{self.max_connections} connections at once ({PER_HOST} from one host) is the "
            f"limit: more are cut unanswered until some end{since}"
        )
        self.note(TransferNote(TransferKind.REFUSED, 0, "", ip, detail=detail))

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str
    ) -> None:
        buf = b""
        async with asyncio.timeout(REQUEST_TIMEOUT):
            while classify(buf) is Protocol.NEED_MORE and len(buf) < 4096:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                buf += data
        if classify(buf) is not Protocol.IPMSG:
            return  # HTTP, the tutorial's protocol, garbage: not served on the chat port
        packet = ipmsg.parse_packet(buf)
        assert packet is not None
        folder = packet.mode == ipmsg.GETDIRFILES
        try:
            request = files.parse_request(packet.extra)
            offer, item = self.book.lookup(ip, request, folder=folder)
        except (UsageError, files.FileListError) as exc:
            self.note(TransferNote(TransferKind.REFUSED, 0, "", ip, detail=str(exc)))
            return
        name, who = item.entry.name, self.name_of(offer.peer)
        self.note(
            TransferNote(
                TransferKind.SENDING, offer.index, name, who, request.offset, item.entry.size
            )
        )
        if folder:
            sent = await self._send_folder(writer, item.path)
        else:
            sent = await self._send_file(writer, item, request.offset)
        await flushed(writer, STALL_TIMEOUT)  # acknowledged by the peer: only then "sent"
        item.fetched = True
        self.note(TransferNote(TransferKind.SENT, offer.index, name, who, sent, sent))
        if offer.complete and self.on_complete is not None:
            self.on_complete(offer)

    async def _send_file(self, writer: asyncio.StreamWriter, item: OfferedFile, offset: int) -> int:
        size = item.entry.size
        if offset > size:
            raise UsageError("offset past the end of the file")
        fd = os.open(item.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{item.path} is no longer a regular file")
            span = FileSpan(OpenFile(fd, st, item.entry.name), offset, size - offset)
            return await send_span(writer, span, use_sendfile=True, stall_timeout=STALL_TIMEOUT)
        finally:
            os.close(fd)

    async def _send_folder(self, writer: asyncio.StreamWriter, top: Path) -> int:
        """The record stream of ``top``: folders, regular files; links and devices skipped."""
        sent = 0

        async def walk(path: Path) -> None:
            nonlocal sent
            st, children = await asyncio.to_thread(_scan, path)
            writer.write(
                files.encode_record(
                    path.name, 0, files.DIR, mtime=int(st.st_mtime), encoding=self.encoding
                )
            )
            for child, cst in children:
                if stat.S_ISDIR(cst.st_mode):
                    await walk(child)
                elif stat.S_ISREG(cst.st_mode):
                    writer.write(
                        files.encode_record(
                            child.name,
                            cst.st_size,
                            files.REGULAR,
                            mtime=int(cst.st_mtime),
                            encoding=self.encoding,
                        )
                    )
                    fd = os.open(child, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                    try:
                        span = FileSpan(OpenFile(fd, os.fstat(fd), child.name), 0, cst.st_size)
                        sent += await send_span(
                            writer, span, use_sendfile=True, stall_timeout=STALL_TIMEOUT
                        )
                    finally:
                        os.close(fd)
            await write_within(writer, files.retparent_record(self.encoding), STALL_TIMEOUT)

        await walk(top)
        return sent


def _scan(path: Path) -> tuple[os.stat_result, list[tuple[Path, os.stat_result]]]:
    """A folder's own stat and its entries (sorted, not following links), off the loop."""
    return path.stat(), [(child, child.lstat()) for child in sorted(path.iterdir())]


# --- fetching ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incoming:
    """An offer someone made us: ``index`` is what /get uses."""

    index: int
    peer: Addr
    peer_name: str
    packet_no: int
    entries: tuple[files.FileEntry, ...]


async def _connect(peer: Addr) -> socket.socket:
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    return await connect_socket(Resolved(family, peer), REQUEST_TIMEOUT)


END_WAIT = 2.0
"""Seconds to wait for the sender's close after the offered size arrived."""


async def _more_than_offered(sock: socket.socket) -> bool:
    """True when bytes follow the offered size (a sender that keeps the line open is fine)."""
    try:
        async with asyncio.timeout(END_WAIT):
            return bool(await asyncio.get_running_loop().sock_recv(sock, 1))
    except (TimeoutError, OSError):
        return False


def _received(offer: Incoming, entry: files.FileEntry, where: str) -> TransferNote:
    size = entry.size
    return TransferNote(
        TransferKind.RECEIVED, offer.index, entry.name, offer.peer_name, size, size, where
    )


class _OfferedReply:
    """The sender's answer to GETFILEDATA: the offered size from the offset asked for
    (``aio.fetch.Reply``)."""

    expected: bytes | None = None  # IP Messenger announces no digest
    restart: str | None = None

    def __init__(self, sock: socket.socket, origin: _OfferedFile, offset: int) -> None:
        self.sock = sock
        self.origin = origin
        self.offset = offset
        size = origin.entry.size
        self.total: int | None = size
        self.length: int | None = size - offset
        self.record: PartState | None = PartState(origin.url, origin.tag, size)
        self.modified = float(origin.entry.mtime) if origin.entry.mtime else None

    async def receive(self, stages: Sequence[Consume], progress: Callable[[int], None]) -> Received:
        origin, want = self.origin, self.length or 0
        try:
            got = await receive_exactly(
                self.sock, want, stages, within=STALL_TIMEOUT, progress=progress
            )
        except TimeoutError:
            raise stalled(origin.label, origin.who, STALL_TIMEOUT) from None
        except OSError as exc:
            raise lost(origin.label, exc) from exc
        if got == 0 and want and not self.offset:  # a resume cut at once is just a cut
            raise ProtocolError(f"{origin.label}: {origin.who} refused the request")
        return Received(got, got == want and await _more_than_offered(self.sock))

    def finish(self, *, ok: bool) -> None:
        self.sock.close()


class _OfferedFile:
    """A file a peer offered us (``aio.fetch.Origin``): asked for with GETFILEDATA."""

    def __init__(
        self, offer: Incoming, entry: files.FileEntry, request: Callable[[int, bytes], bytes]
    ) -> None:
        self.offer = offer
        self.entry = entry
        self.request = request
        self.url = f"ipmsg://{offer.peer[0]}:{offer.peer[1]}/{offer.packet_no:x}/{entry.file_id}"
        self.tag = f"{entry.size:x}-{entry.mtime:x}"  # the offer's version of the file
        self.label = entry.name
        self.who = offer.peer_name

    async def ask(self, have: int, saved: PartState | None) -> _OfferedReply:
        if saved is None or saved.etag != self.tag:
            have = 0
        sock = await _connect(self.offer.peer)
        try:
            extra = files.encode_request(self.offer.packet_no, self.entry.file_id, have)
            await asyncio.get_running_loop().sock_sendall(
                sock, self.request(ipmsg.GETFILEDATA, extra)
            )
        except OSError as exc:
            sock.close()
            raise lost(self.label, exc, "before the answer") from exc
        except BaseException:
            sock.close()
            raise
        return _OfferedReply(sock, self, have)


async def fetch_file(
    offer: Incoming,
    entry: files.FileEntry,
    dest: Path,
    request: Callable[[int, bytes], bytes],
    note: Note,
) -> Path:
    """Download one offered file to ``dest`` (a folder), resuming a .part; retries cuts.

    ``request(command, extra)`` builds a packet of ours. Returns the final path.

    Raises:
        DestinationExists, ConnectionLost, TimedOut, IntegrityError, LocalWriteError.
    """
    final = dest / entry.name
    last = [float("-inf")]

    def progress(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            note(
                TransferNote(
                    TransferKind.PROGRESS,
                    offer.index,
                    entry.name,
                    offer.peer_name,
                    done,
                    entry.size,
                )
            )

    def tell(text: str) -> None:
        try:
            done = os.stat(f"{final}.part").st_size  # noqa: PTH116 (a notice's progress figure)
        except OSError:
            done = 0
        peer = offer.peer_name
        note(
            TransferNote(
                TransferKind.PROGRESS, offer.index, entry.name, peer, done, entry.size, detail=text
            )
        )

    into = Landing(
        final,
        None,
        tell,
        progress=progress,
        replace_hint="choose another folder: /get N DEST",
    )
    origin = _OfferedFile(offer, entry, request)

    async def attempt(tries: int) -> DownloadResult:
        return await fetch_into_part(origin, into, resume=True)

    result = await retrying(attempt, retries=RETRIES, tell=tell)
    where = f"already here: {final}" if result.already_here else str(final)
    note(_received(offer, entry, where))
    return final


class _FolderLanding:
    """Lands a folder stream's events under ``dest``: folders made, each file through a
    ``.part`` renamed when whole, modification times kept."""

    def __init__(self, offer: Incoming, entry: files.FileEntry, dest: Path, note: Note) -> None:
        self.offer = offer
        self.entry = entry
        self.dest = dest
        self.note = note
        self.current: PartFile | None = None
        self.current_mtime: float | None = None
        self.pending_dirs: list[tuple[Path, int | None]] = []
        self.received = 0

    @property
    def started(self) -> bool:
        """Anything of the folder arrived."""
        return bool(self.received or self.current is not None or self.pending_dirs)

    def on(self, event: files.FolderEvent) -> None:
        match event:
            case files.EnterDir(path=path, mtime=mtime):
                if path[0] != self.entry.name:
                    raise files.FolderRecordError(f"folder {path[0]!r} was not offered")
                folder = self.dest.joinpath(*path)
                make_folder(folder)
                self.pending_dirs.append((folder, mtime))
            case files.FileStart(path=path, mtime=mtime):
                self.current = PartFile(self.dest.joinpath(*path))
                self.current.open(resume=False)
                self.current_mtime = float(mtime) if mtime else None
            case files.FileData(data=chunk):
                assert self.current is not None
                self.current.write(chunk)
                self.received += len(chunk)
            case files.FileEnd(path=path):
                self._file_done("/".join(path))
            case files.LeaveDir():
                folder, mtime = self.pending_dirs.pop()
                if mtime:  # a time that cannot be set is no reason to fail the folder
                    with contextlib.suppress(OSError):
                        os.utime(folder, (mtime, mtime))
            case files.TreeDone():
                pass

    def _file_done(self, name: str) -> None:
        current = self.current
        assert current is not None
        current.close()
        current.commit(self.current_mtime)
        size = current.final.stat().st_size
        where = str(current.final)
        peer = self.offer.peer_name
        self.note(
            TransferNote(TransferKind.RECEIVED, self.offer.index, name, peer, size, size, where)
        )
        self.current = None

    def abandon(self) -> None:
        """A folder stream cannot be resumed (GETDIRFILES has no offset): a file cut halfway
        is of no use, so its .part goes."""
        if self.current is not None:
            self.current.discard()


async def fetch_folder(
    offer: Incoming,
    entry: files.FileEntry,
    dest: Path,
    request: Callable[[int, bytes], bytes],
    note: Note,
    *,
    encoding: str = "utf-8",
) -> Path:
    """Download an offered folder into ``dest``; each file via .part + rename, mtimes kept.

    Raises:
        DestinationExists, ConnectionLost, FolderRecordError, LocalWriteError.
    """
    top = dest / entry.name
    if top.exists():
        raise DestinationExists(f"{top} already exists (choose another folder: /get N DEST)")
    sock = await _connect(offer.peer)
    loop = asyncio.get_running_loop()
    reader = files.FolderReader(encoding)
    landing = _FolderLanding(offer, entry, dest, note)
    who = offer.peer_name
    try:
        extra = files.encode_request(offer.packet_no, entry.file_id)
        await loop.sock_sendall(sock, request(ipmsg.GETDIRFILES, extra))
        while not reader.done:
            try:
                async with asyncio.timeout(STALL_TIMEOUT):
                    data = await loop.sock_recv(sock, 1 << 20)
            except TimeoutError:
                raise stalled(entry.name, who, STALL_TIMEOUT) from None
            except OSError as exc:
                raise lost(entry.name, exc) from exc
            if not data:
                if not landing.started:
                    raise ProtocolError(f"{entry.name}: {who} refused the request")
                raise lost(entry.name, when="(the folder stream ended early)")
            for event in reader.feed(data):
                landing.on(event)
        got = landing.received
        note(
            TransferNote(
                TransferKind.RECEIVED, offer.index, entry.name, who, got, got, detail=str(top)
            )
        )
        return top
    finally:
        landing.abandon()
        sock.close()
