"""IP Messenger attachments on the wire: offer lists, file requests, and folder record streams.

- An offer is a SENDMSG with FILEATTACHOPT whose EXTRA is ``text \\0 list``; each list entry
  is ``fileID:name:size:mtime:attr[:key=value...]:`` followed by BEL (0x07). size, mtime and
  attr are hex; fileID is written in decimal (iptux and FeiQ read it so), and a ':' in a name
  is doubled.
- A request (over TCP) is a full packet whose EXTRA is ``packetID:fileID[:offset]``, hex.
- A folder (GETDIRFILES) comes back as records ``headerSize:name:size:attr[:key=value...]:``
  followed by ``size`` bytes of content; headerSize (hex) counts the header itself. A DIR
  record enters a folder, RETPARENT leaves it.

Pure and bounded: every parser refuses oversize headers, names that could escape the
destination, and malformed numbers with ``FileListError`` / ``FolderRecordError``. Numbers
are read by ``proto.numbers`` (ASCII digits only, at most 16 hex or 19 decimal digits),
never by ``int``, which takes ``0x``, ``_``, blanks, other scripts' digits and any length. A
file time outside ``[0, MAX_MTIME]``, or unreadable, is read (and written) as unknown: the
file is still good, its time is noise, and setting it would overflow (``os.utime``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.errors import ProtocolError
from pigeon.proto.numbers import parse_decimal, parse_hex

REGULAR = 1
DIR = 2
RETPARENT = 3
SYMLINK = 4
TYPE_MASK = 0xFF
RONLY = 0x100
HIDDEN = 0x1000
EXT_PERM = 0x10
EXT_MTIME = 0x14

MAX_ENTRIES = 1000
MAX_NAME_BYTES = 1024
MAX_HEADER = 4096
"""Bytes a folder record header may take before the stream is refused."""
MAX_DEPTH = 64
FILE_SEPARATOR = b"\a"
MAX_MTIME = 253_402_300_799
"""The last second of the year 9999 (Unix time): the latest file time kept."""


class FileListError(ProtocolError):
    """An offer's file list or a file request is malformed."""


class FolderRecordError(ProtocolError):
    """A folder record stream is malformed or hostile."""


def file_time(seconds: int | None) -> int | None:
    """``seconds`` if it can be a file's modification time, else None (unknown)."""
    return seconds if seconds is not None and 0 <= seconds <= MAX_MTIME else None


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One offered file or folder; ``mtime`` 0 means unknown."""

    file_id: int
    name: str
    size: int
    mtime: int
    attr: int

    @property
    def is_dir(self) -> bool:
        """True for a folder (fetched with GETDIRFILES)."""
        return self.attr & TYPE_MASK == DIR


def _escape(name: str) -> str:
    return name.replace(":", "::")


def _fields(text: str) -> list[str]:
    """Split at single ':' (a doubled '::' is a colon inside a field)."""
    out: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ":":
            if i + 1 < len(text) and text[i + 1] == ":":
                current.append(":")
                i += 2
                continue
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def check_name(name: str) -> str:
    """``name`` if it is a safe single path component; raises FileListError otherwise."""
    if not name or name in (".", "..") or len(name.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        raise FileListError(f"refused file name {name[:80]!r}")
    if any(ch in name for ch in "/\\\0") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise FileListError(f"refused file name {name[:80]!r}")
    if len(name) == 2 and name[1] == ":" and name[0].isalpha():
        raise FileListError(f"refused file name {name[:80]!r}")  # a bare drive letter
    return name


def encode_file_list(entries: list[FileEntry], encoding: str) -> bytes:
    """The attachment list for an offer (names in ``encoding``)."""
    parts = []
    for e in entries:
        mtime = file_time(e.mtime) or 0
        text = f"{e.file_id}:{_escape(e.name)}:{e.size:x}:{mtime:x}:{e.attr:x}:"
        parts.append(text.encode(encoding, "replace") + FILE_SEPARATOR)
    return b"".join(parts)


def decode_file_list(data: bytes, encoding: str) -> list[FileEntry]:
    """The entries of an offer's attachment list.

    Raises:
        FileListError: malformed numbers, too many entries, or a name that is not a single
            safe path component.
    """
    entries: list[FileEntry] = []
    for raw in data.split(FILE_SEPARATOR):
        raw = raw.strip(b"\0")
        if not raw:
            continue
        if len(entries) >= MAX_ENTRIES:
            raise FileListError(f"more than {MAX_ENTRIES} files in one offer")
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            text = raw.decode("gb18030", "replace")
        fields = _fields(text)
        if len(fields) < 5:
            raise FileListError(f"attachment entry {text[:80]!r} has too few fields")
        file_id, size, attr = parse_decimal(fields[0]), parse_hex(fields[2]), parse_hex(fields[4])
        if file_id is None or size is None or attr is None:
            raise FileListError(f"attachment entry {text[:80]!r} has a bad number")
        if size > 1 << 60:
            raise FileListError(f"attachment entry {text[:80]!r} is out of range")
        name = check_name(fields[1])
        mtime = file_time(parse_hex(fields[3])) or 0
        entries.append(FileEntry(file_id, name, size, mtime, attr))
    return entries


def encode_request(packet_id: int, file_id: int, offset: int | None = None) -> bytes:
    """EXTRA of GETFILEDATA (with ``offset``) or GETDIRFILES (without), hex."""
    text = f"{packet_id:x}:{file_id:x}" + (f":{offset:x}" if offset is not None else "")
    return text.encode("ascii")


@dataclass(frozen=True, slots=True)
class FileRequest:
    """What a GETFILEDATA / GETDIRFILES asks for. ``file_ids`` holds the hex reading first,
    then the decimal one if different (iptux and FeiQ disagree on the base)."""

    packet_id: int
    file_ids: tuple[int, ...]
    offset: int


def parse_request(extra: bytes) -> FileRequest:
    """Read ``packetID:fileID[:offset]``.

    Raises:
        FileListError: not two or three hexadecimal numbers.
    """
    text = extra.split(b"\0", 1)[0].decode("ascii", "replace")
    fields = text.split(":")
    if len(fields) not in (2, 3, 4) or not all(fields[:3]) or len(text) > 100:
        raise FileListError(f"bad file request {text[:60]!r}")
    packet_id, file_id = parse_hex(fields[0]), parse_hex(fields[1])
    offset = parse_hex(fields[2]) if len(fields) > 2 and fields[2] else 0
    if packet_id is None or file_id is None or offset is None:
        raise FileListError(f"bad file request {text[:60]!r}")
    ids = [file_id]
    decimal = parse_decimal(fields[1])
    if decimal is not None and decimal not in ids:
        ids.append(decimal)
    return FileRequest(packet_id, tuple(ids), offset)


# --- folder record streams -------------------------------------------------------------------


def encode_record(name: str, size: int, attr: int, *, mtime: int | None, encoding: str) -> bytes:
    """One folder record header (the content, ``size`` bytes, follows it)."""
    mtime = file_time(mtime) if mtime is not None else None
    ext = f"{EXT_MTIME:x}={mtime:x}:" if mtime is not None else ""
    body = f":{_escape(name)}:{size:x}:{attr:x}:{ext}".encode(encoding, "replace")
    # headerSize counts itself: find the width that makes the total consistent.
    for width in range(1, 9):
        total = width + len(body)
        digits = f"{total:x}"
        if len(digits) == width:
            return digits.encode("ascii") + body
    raise FolderRecordError("record header too long")


def retparent_record(encoding: str) -> bytes:
    """The record that leaves the current folder."""
    return encode_record(".", 0, RETPARENT, mtime=None, encoding=encoding)


@dataclass(frozen=True, slots=True)
class EnterDir:
    """A folder starts (``path`` relative to the destination, as components)."""

    path: tuple[str, ...]
    mtime: int | None


@dataclass(frozen=True, slots=True)
class LeaveDir:
    """The folder at ``path`` is complete."""

    path: tuple[str, ...]
    mtime: int | None


@dataclass(frozen=True, slots=True)
class FileStart:
    """A file of ``size`` bytes starts; ``FileData`` follow, then ``FileEnd``."""

    path: tuple[str, ...]
    size: int
    mtime: int | None


@dataclass(frozen=True, slots=True)
class FileData:
    """Content bytes of the current file."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FileEnd:
    """The current file is complete."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TreeDone:
    """The top folder was left: the stream is complete."""


FolderEvent = EnterDir | LeaveDir | FileStart | FileData | FileEnd | TreeDone


class FolderReader:
    """Sans-I/O parser of a GETDIRFILES stream: ``feed`` bytes, get events.

    Raises FolderRecordError on oversize headers, bad numbers, unsafe names, depth beyond
    ``MAX_DEPTH``, a RETPARENT with nothing open, or bytes after the tree is done.
    """

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding
        self._buf = bytearray()
        self._stack: list[tuple[str, int | None]] = []
        self._left = 0  # content bytes still due for the current file
        self._current: tuple[str, ...] | None = None
        self.done = False
        self._started = False

    def feed(self, data: bytes) -> list[FolderEvent]:
        """Events for ``data`` (any split of the stream)."""
        if self.done and data:
            raise FolderRecordError("data after the folder was complete")
        self._buf += data
        events: list[FolderEvent] = []
        while self._buf and not self.done:
            if self._left:
                take = bytes(self._buf[: self._left])
                del self._buf[: len(take)]
                self._left -= len(take)
                events.append(FileData(take))
                if not self._left:
                    assert self._current is not None
                    events.append(FileEnd(self._current))
                    self._current = None
                continue
            header = self._header()
            if header is None:
                break
            events.extend(self._record(header))
        if self.done and self._buf:
            raise FolderRecordError("data after the folder was complete")
        return events

    def _header(self) -> bytes | None:
        colon = self._buf.find(b":", 0, 16)
        if colon < 0:
            if len(self._buf) >= 16:
                raise FolderRecordError("record header size is not a number")
            return None
        size = parse_hex(self._buf[:colon].decode("latin-1"))
        if size is None:
            raise FolderRecordError("record header size is not a number")
        if size <= colon or size > MAX_HEADER:
            raise FolderRecordError(f"record header size {size} out of bounds")
        if len(self._buf) < size:
            return None
        header = bytes(self._buf[:size])
        del self._buf[:size]
        return header

    def _record(self, header: bytes) -> list[FolderEvent]:
        try:
            text = header.decode(self.encoding)
        except UnicodeDecodeError:
            text = header.decode("gb18030", "replace")
        fields = _fields(text)
        if len(fields) < 5 or fields[-1] != "":
            raise FolderRecordError(f"bad record header {text[:80]!r}")
        size, attr = parse_hex(fields[2]), parse_hex(fields[3])
        if size is None or attr is None:
            raise FolderRecordError(f"bad record header {text[:80]!r}")
        mtime = None
        for ext in fields[4:-1]:
            key, _eq, value = ext.partition("=")
            if parse_hex(key) == EXT_MTIME:
                mtime = file_time(parse_hex(value.split(",")[0]))
        kind = attr & TYPE_MASK
        here = tuple(name for name, _m in self._stack)
        if kind == RETPARENT:
            if not self._stack:
                raise FolderRecordError("RETPARENT with no folder open")
            name, opened = self._stack.pop()
            if not self._stack:
                self.done = True
                return [LeaveDir((*here[:-1], name), opened), TreeDone()]
            return [LeaveDir(here, opened)]
        if not self._started and kind != DIR:
            raise FolderRecordError("a folder stream must start with a folder")
        self._started = True
        try:
            name = check_name(fields[1])
        except FileListError as exc:
            raise FolderRecordError(str(exc)) from None
        if kind == DIR:
            if len(self._stack) >= MAX_DEPTH:
                raise FolderRecordError(f"folders nested deeper than {MAX_DEPTH}")
            self._stack.append((name, mtime))
            return [EnterDir((*here, name), mtime)]
        if kind != REGULAR:
            raise FolderRecordError(f"unsupported record type {kind} for {name!r}")
        if size > 1 << 60:
            raise FolderRecordError(f"file size out of range for {name!r}")
        path = (*here, name)
        if size == 0:
            return [FileStart(path, 0, mtime), FileEnd(path)]
        self._left = size
        self._current = path
        return [FileStart(path, size, mtime)]
