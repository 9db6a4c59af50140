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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pigeon.aio.bulk import receive_exactly
from pigeon.aio.filesend import FileSpan, ShortBody, send_span
from pigeon.aio.pace import closed, flushed, write_within
from pigeon.aio.sockets import Resolved, peer_host, reset
from pigeon.aio.tcp import connect_socket
from pigeon.errors import (
    ConnectionLost,
    DestinationExists,
    IntegrityError,
    PigeonError,
    ProtocolError,
    TimedOut,
    UsageError,
)
from pigeon.fs.partfile import PartFile, PartInfo, make_folder
from pigeon.fs.root import OpenFile
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.messenger import Addr
from pigeon.proto.classify import Protocol, classify
from pigeon.proto.text import format_size

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


@dataclass(frozen=True, slots=True)
class TransferNote:
    """Something about a transfer, for the screen: ``kind`` is ``sending``, ``sent``,
    ``refused``, ``progress``, ``received`` or ``failed``."""

    kind: str
    index: int
    name: str
    peer: str
    done: int = 0
    total: int = 0
    detail: str = ""


Note = Callable[[TransferNote], None]


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
        self.note(TransferNote("refused", 0, "", ip, detail=detail))

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
            self.note(TransferNote("refused", 0, "", ip, detail=str(exc)))
            return
        name, who = item.entry.name, self.name_of(offer.peer)
        self.note(TransferNote("sending", offer.index, name, who, request.offset, item.entry.size))
        if folder:
            sent = await self._send_folder(writer, item.path)
        else:
            sent = await self._send_file(writer, item, request.offset)
        await flushed(writer, STALL_TIMEOUT)  # acknowledged by the peer: only then "sent"
        item.fetched = True
        self.note(TransferNote("sent", offer.index, name, who, sent, sent))
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
    return TransferNote("received", offer.index, entry.name, offer.peer_name, size, size, where)


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
        DestinationExists, ConnectionLost, TimedOut, LocalWriteError.
    """
    final = dest / entry.name
    if final.exists():
        if final.is_file() and final.stat().st_size == entry.size:
            note(_received(offer, entry, f"already here: {final}"))
            return final
        raise DestinationExists(f"{final} exists and differs (choose another folder: /get N DEST)")
    url = f"ipmsg://{offer.peer[0]}:{offer.peer[1]}/{offer.packet_no:x}/{entry.file_id}"
    tag = f"{entry.size:x}-{entry.mtime:x}"
    error: PigeonError | None = None
    for attempt in range(RETRIES + 1):
        if attempt:
            await asyncio.sleep(0.5 * attempt)
        part = PartFile(final)
        info = part.resumable(url)
        have = part.part.stat().st_size if info is not None and info.etag == tag else 0
        try:
            await _fetch_once(offer, entry, part, have, url, tag, request, note)
            note(_received(offer, entry, str(final)))
            return final
        except (ConnectionLost, TimedOut) as exc:
            error = exc
            note(
                TransferNote(
                    "progress",
                    offer.index,
                    entry.name,
                    offer.peer_name,
                    part.part.stat().st_size if part.part.exists() else 0,
                    entry.size,
                    detail=f"{exc}; resuming",
                )
            )
    assert error is not None
    raise error


async def _fetch_once(
    offer: Incoming,
    entry: files.FileEntry,
    part: PartFile,
    have: int,
    url: str,
    tag: str,
    request: Callable[[int, bytes], bytes],
    note: Note,
) -> None:
    sock = await _connect(offer.peer)
    try:
        packet = request(
            ipmsg.GETFILEDATA, files.encode_request(offer.packet_no, entry.file_id, have)
        )
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, packet)
        part.open(resume=have > 0)
        part.record(PartInfo(url, tag, entry.size))
        last = [time.monotonic()]

        def progress(got: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 1.0:
                last[0] = now
                note(
                    TransferNote(
                        "progress", offer.index, entry.name, offer.peer_name, have + got, entry.size
                    )
                )

        try:
            got = await receive_exactly(
                sock, entry.size - have, part.stages(), within=STALL_TIMEOUT, progress=progress
            )
        except TimeoutError:
            raise TimedOut(
                f"{entry.name}: {offer.peer_name} sent nothing for {STALL_TIMEOUT:g}s"
            ) from None
        except OSError as exc:
            raise ConnectionLost(f"{entry.name}: connection lost ({exc.strerror})") from exc
        finally:
            part.close()
        if have + got != entry.size:
            if have + got == 0 and entry.size:
                raise ProtocolError(f"{entry.name}: {offer.peer_name} refused the request")
            short = format_size(entry.size - have - got)  # what is missing: never rounds to all
            raise ConnectionLost(
                f"{entry.name}: connection lost {short} short of the {format_size(entry.size)}"
                " offered"
            )
        if await _more_than_offered(sock):
            part.discard()
            raise IntegrityError(
                f"{entry.name}: {offer.peer_name} sent more than the {format_size(entry.size)} it"
                " offered"
                " (nothing kept)"
            )
        part.commit(float(entry.mtime) if entry.mtime else None)
    finally:
        sock.close()


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
    current: PartFile | None = None
    current_mtime: float | None = None
    pending_dirs: list[tuple[Path, int | None]] = []
    received = 0
    try:
        await loop.sock_sendall(
            sock, request(ipmsg.GETDIRFILES, files.encode_request(offer.packet_no, entry.file_id))
        )
        while not reader.done:
            try:
                async with asyncio.timeout(STALL_TIMEOUT):
                    data = await loop.sock_recv(sock, 1 << 20)
            except TimeoutError:
                raise TimedOut(
                    f"{entry.name}: {offer.peer_name} sent nothing for {STALL_TIMEOUT:g}s"
                ) from None
            except OSError as exc:
                raise ConnectionLost(f"{entry.name}: connection lost ({exc.strerror})") from exc
            if not data:
                if received == 0 and current is None and not pending_dirs:
                    raise ProtocolError(f"{entry.name}: {offer.peer_name} refused the request")
                raise ConnectionLost(f"{entry.name}: the folder stream ended early")
            for event in reader.feed(data):
                match event:
                    case files.EnterDir(path=path, mtime=mtime):
                        if path[0] != entry.name:
                            raise files.FolderRecordError(f"folder {path[0]!r} was not offered")
                        folder = dest.joinpath(*path)
                        make_folder(folder)
                        pending_dirs.append((folder, mtime))
                    case files.FileStart(path=path, mtime=mtime):
                        current = PartFile(dest.joinpath(*path))
                        current.open(resume=False)
                        current_mtime = float(mtime) if mtime else None
                    case files.FileData(data=chunk):
                        assert current is not None
                        current.write(chunk)
                        received += len(chunk)
                    case files.FileEnd(path=path):
                        assert current is not None
                        current.close()
                        current.commit(current_mtime)
                        size = current.final.stat().st_size
                        note(
                            TransferNote(
                                "received",
                                offer.index,
                                "/".join(path),
                                offer.peer_name,
                                size,
                                size,
                                str(current.final),
                            )
                        )
                        current = None
                    case files.LeaveDir():
                        folder, mtime = pending_dirs.pop()
                        if mtime:  # a time that cannot be set is no reason to fail the folder
                            with contextlib.suppress(OSError):
                                os.utime(folder, (mtime, mtime))
                    case files.TreeDone():
                        pass
        note(
            TransferNote(
                "received",
                offer.index,
                entry.name,
                offer.peer_name,
                received,
                received,
                detail=str(top),
            )
        )
        return top
    finally:
        if current is not None:
            # A folder stream cannot be resumed (GETDIRFILES has no offset): a file cut
            # halfway is of no use, so its .part goes.
            current.discard()
        sock.close()
