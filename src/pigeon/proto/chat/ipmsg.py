"""IP Messenger packets: the codec (bytes <-> ``Packet``), the command and option numbers,
and the payloads of entry and message packets.

Wire form: ``VER:PKTNO:USER:HOST:CMD:EXTRA`` where EXTRA holds NUL-separated fields and ends
with a NUL. Header fields are kept as bytes until the caller knows the peer's encoding.
Parsing never raises: bytes that are not a well-formed packet give ``None`` (the caller then
treats them as a plain datagram). Pure: no sockets, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from pigeon.errors import DatagramTooLong
from pigeon.proto.text import plural

# Commands (the low byte of CMD).
NOOPERATION = 0x00
BR_ENTRY = 0x01
BR_EXIT = 0x02
ANSENTRY = 0x03
BR_ABSENCE = 0x04
SENDMSG = 0x20
RECVMSG = 0x21
READMSG = 0x30
DELMSG = 0x31
ANSREADMSG = 0x32
GETINFO = 0x40
SENDINFO = 0x41
GETABSENCEINFO = 0x50
SENDABSENCEINFO = 0x51
GETFILEDATA = 0x60
RELEASEFILES = 0x61
GETDIRFILES = 0x62
GETPUBKEY = 0x72
ANSPUBKEY = 0x73

COMMAND_NAMES = {
    NOOPERATION: "NOOPERATION",
    BR_ENTRY: "BR_ENTRY",
    BR_EXIT: "BR_EXIT",
    ANSENTRY: "ANSENTRY",
    BR_ABSENCE: "BR_ABSENCE",
    SENDMSG: "SENDMSG",
    RECVMSG: "RECVMSG",
    READMSG: "READMSG",
    DELMSG: "DELMSG",
    ANSREADMSG: "ANSREADMSG",
    GETINFO: "GETINFO",
    SENDINFO: "SENDINFO",
    GETABSENCEINFO: "GETABSENCEINFO",
    SENDABSENCEINFO: "SENDABSENCEINFO",
    GETFILEDATA: "GETFILEDATA",
    RELEASEFILES: "RELEASEFILES",
    GETDIRFILES: "GETDIRFILES",
    GETPUBKEY: "GETPUBKEY",
    ANSPUBKEY: "ANSPUBKEY",
}
"""Command numbers to names, for logs and ``--json``."""

# Options valid with any command.
ABSENCEOPT = 0x100
SERVEROPT = 0x200
DIALUPOPT = 0x10000
FILEATTACHOPT = 0x200000
ENCRYPTOPT = 0x400000
UTF8OPT = 0x800000
CAPUTF8OPT = 0x1000000

# Options read in a SENDMSG (they reuse low bits).
SENDCHECKOPT = 0x100
SECRETOPT = 0x200
BROADCASTOPT = 0x400
MULTICASTOPT = 0x800
AUTORETOPT = 0x2000
NOLOGOPT = 0x20000
NOADDLISTOPT = 0x80000
READCHECKOPT = 0x100000

MODE_MASK = 0xFF
DEFAULT_PORT = 2425
MAX_TEXT_BYTES = 8192
"""A chat message longer than this (encoded) is refused: it would need IP fragmentation."""

_MAX_PKTNO_DIGITS = 20
_MAX_CMD = 0xFFFFFFFF
_MAX_VERSION = 128
_VERSION = re.compile(rb"1[\x20-\x7e]{0,%d}" % (_MAX_VERSION - 1))


class Packet(NamedTuple):
    """One IP Messenger packet; ``user``, ``host`` and ``extra`` are raw bytes.

    A NamedTuple (immutable, and built three times faster than a frozen dataclass: one is
    built per datagram)."""

    version: str
    packet_no: int
    user: bytes
    host: bytes
    command: int
    extra: bytes = b""

    @property
    def mode(self) -> int:
        """The command number (low byte)."""
        return self.command & MODE_MASK

    @property
    def options(self) -> int:
        """The option bits (everything above the low byte)."""
        return self.command & ~MODE_MASK

    def has(self, option: int) -> bool:
        """True when every bit of ``option`` is set."""
        return self.command & option == option


def parse_packet(data: bytes) -> Packet | None:
    """The packet in ``data``, or None when it is not a well-formed IP Messenger packet.

    Accepted: a version starting with ``1`` (printable ASCII), a decimal packet number, a
    decimal 32-bit command. Anything else is a plain datagram to the caller.
    """
    parts = data.split(b":", 5)
    if len(parts) == 6:
        version, pktno, user, host, command, extra = parts
    elif len(parts) == 5:
        version, pktno, user, host, command = parts
        extra = b""
    else:
        return None
    text = _versions.get(version)
    if text is None:
        if not _VERSION.fullmatch(version):  # iptux: "1_iptux 0.8.3"
            return None
        text = version.decode("ascii")
        if len(_versions) < _VERSIONS_KEPT:
            _versions[version] = text
    if not pktno.isdigit() or len(pktno) > _MAX_PKTNO_DIGITS:
        return None
    if not command.isdigit() or len(command) > 10:
        return None
    number = int(command)
    if number > _MAX_CMD:
        return None
    # tuple.__new__ builds the NamedTuple without its Python-level __new__ (one per datagram).
    return tuple.__new__(Packet, (text, int(pktno), user, host, number, extra))


_VERSIONS_KEPT = 256
_versions: dict[bytes, str] = {}
"""Version fields already checked (a LAN has a handful), mapped to their text."""


def packet_bytes(head: tuple[bytes, bytes], packet_no: int, command: int, extra: bytes) -> bytes:
    """``encode_packet`` for a sender whose version, user and host are fixed: ``head`` is
    ``header_prefix``'s pair, made once, so a packet costs one formatting operation."""
    if not extra.endswith(b"\0"):
        extra += b"\0"
    return b"%s%d%s%d:%s" % (head[0], packet_no, head[1], command, extra)


def header_prefix(version: str, user: bytes, host: bytes) -> tuple[bytes, bytes]:
    """The fixed parts of a sender's header: ``version:`` and ``:user:host:``."""
    middle = b":" + header_field(user) + b":" + header_field(host) + b":"
    return version.encode("ascii") + b":", middle


def encode_packet(packet: Packet) -> bytes:
    """The wire bytes of ``packet``: header, EXTRA, and a trailing NUL if EXTRA lacks one."""
    extra = packet.extra if packet.extra.endswith(b"\0") else packet.extra + b"\0"
    head = b":".join(
        (
            packet.version.encode("ascii"),
            str(packet.packet_no).encode("ascii"),
            header_field(packet.user),
            header_field(packet.host),
            str(packet.command).encode("ascii"),
        )
    )
    return head + b":" + extra


def header_field(value: bytes) -> bytes:
    """A USER or HOST field made safe: ':' (the separator) and NUL replaced by '_'."""
    return value.replace(b":", b"_").replace(b"\0", b"_")


def extra_fields(extra: bytes) -> list[bytes]:
    """EXTRA split at NULs, without the final empty piece a trailing NUL leaves."""
    fields = extra.split(b"\0")
    if len(fields) > 1 and fields[-1] == b"":
        fields.pop()
    return fields


def message_body(extra: bytes) -> tuple[bytes, bytes]:
    """A SENDMSG's text and whatever follows its first NUL (the attachment list)."""
    text, _sep, rest = extra.partition(b"\0")
    return text, rest.rstrip(b"\0")


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What an entry packet (BR_ENTRY, ANSENTRY, BR_ABSENCE) says about its sender.

    ``nick``/``group`` are raw legacy-encoded bytes unless ``utf8_names`` carried them;
    ``encoding_hint`` is an encoding name the peer volunteered (iptux does), if any.
    """

    nick: bytes
    group: bytes
    utf8_names: dict[str, str]
    encoding_hint: str


_UTF8_NAME_KEYS = ("UN", "HN", "NN", "GN")


def parse_entry(extra: bytes) -> EntryInfo:
    """Read ``nick \\0 group [\\0 ...]`` plus the ``\\n``-led UN:/HN:/NN:/GN: UTF-8 lines.

    iptux sends ``nick\\0group\\0icon\\0encoding\\0``; the official client sends
    ``nick\\0group\\0\\nUN:..\\nHN:..\\nNN:..\\nGN:..``.
    """
    fields = extra_fields(extra)
    nick = fields[0] if fields else b""
    group = fields[1] if len(fields) > 1 else b""
    names: dict[str, str] = {}
    hint = ""
    for field in fields[2:]:
        if field.startswith(b"\n"):
            for line in field.split(b"\n"):
                key, sep, value = line.partition(b":")
                name = key.decode("ascii", "replace")
                if sep and name in _UTF8_NAME_KEYS:
                    try:
                        names[name] = value.decode("utf-8")
                    except UnicodeDecodeError:
                        continue
        elif _looks_like_encoding(field):
            hint = field.decode("ascii").lower()
    return EntryInfo(nick, group, names, hint)


def _looks_like_encoding(field: bytes) -> bool:
    text = field.lower()
    return text in (b"utf-8", b"utf8", b"gbk", b"gb2312", b"gb18030", b"big5", b"cp932", b"sjis")


def entry_extra(*, nick: str, group: str, user: str, host: str, legacy: str) -> bytes:
    """The EXTRA of our entry packets: legacy-encoded nick and group, then UTF-8 name lines.

    Entry packets never set UTF8OPT (old clients break); modern ones read the UN/HN/NN/GN
    lines instead. Characters ``legacy`` cannot write become '?'.
    """
    lines = "\n".join(
        f"{key}:{value.replace(chr(10), ' ')}"
        for key, value in (("UN", user), ("HN", host), ("NN", nick), ("GN", group))
    )
    return b"\0".join(
        (
            clean_name(nick).encode(legacy, "replace"),
            clean_name(group).encode(legacy, "replace"),
            b"\n" + lines.encode("utf-8"),
            b"",
        )
    )


def clean_name(name: str) -> str:
    """A name fit for the wire: NUL, newlines and ':' (in header fields) replaced."""
    return name.replace("\0", " ").replace("\n", " ").replace("\r", " ").replace(":", "_")


def check_text_size(body: bytes) -> None:
    """Refuse a message body that would not fit in one reasonable datagram.

    Raises:
        DatagramTooLong: more than ``MAX_TEXT_BYTES`` encoded.
    """
    if len(body) > MAX_TEXT_BYTES:
        raise DatagramTooLong(
            f"message is {plural(len(body), 'byte')} encoded; at most {MAX_TEXT_BYTES:,} fit in"
            " one chat datagram (send it as a file instead)"
        )


def ack_number(extra: bytes) -> int | None:
    """The packet number a RECVMSG (or READMSG) acknowledges, or None if unreadable."""
    text = extra.partition(b"\0")[0].strip()
    if not text.isdigit() or len(text) > _MAX_PKTNO_DIGITS:
        return None
    return int(text)
