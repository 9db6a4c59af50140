"""What a peer's datagrams tell us about it: its names and group, and the charset it reads.

A peer's legacy charset is learned only from evidence: an entry that announces it, FeiQ's
version (it writes GBK and does not say so), text that is valid GB18030 and not UTF-8, or a
plain peer's non-ASCII UTF-8. UTF-8 is used when the peer says so (UTF8OPT/CAPUTF8OPT).
``forced`` everywhere is the charset the user chose for legacy peers (None: ``auto``).
Pure functions on ``peers.Peer``; the messenger decides when to call them.
"""

from __future__ import annotations

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.peers import UTF8, Peer
from pigeon.proto.text import AUTO, AUTO_CHAIN, HEX, decode_payload

GB18030 = "gb18030"


def read_name(peer: Peer, raw: bytes, *, utf8: bool = False) -> str:
    """A name field of ``peer``'s packet, in its charset when known."""
    if utf8:
        return raw.decode(UTF8, "replace")
    chain = [peer.encoding] if peer.encoding else []
    for codec in [*chain, *AUTO_CHAIN]:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode(UTF8, "replace")


def learn_header(peer: Peer, packet: ipmsg.Packet) -> None:
    """The user, host and version every packet's header carries."""
    utf8 = packet.has(ipmsg.UTF8OPT)
    peer.user = read_name(peer, packet.user, utf8=utf8)
    peer.host = read_name(peer, packet.host, utf8=utf8)
    peer.version = packet.version
    peer.plain = False


def learn_entry(peer: Peer, packet: ipmsg.Packet) -> None:
    """Everything an entry packet (BR_ENTRY, ANSENTRY, BR_ABSENCE) says: the header, the
    charset, the nick and group (in UTF-8 when it sends them so)."""
    entry = ipmsg.parse_entry(packet.extra)
    learn_header(peer, packet)
    if packet.has(ipmsg.CAPUTF8OPT) or entry.encoding_hint in ("utf-8", "utf8"):
        peer.utf8 = True
    elif entry.encoding_hint:
        hint = entry.encoding_hint
        peer.encoding = GB18030 if hint in ("gbk", "gb2312", "gb18030") else hint
    elif packet.version.startswith("1_lbt") and peer.encoding is None:
        peer.encoding = GB18030  # FeiQ writes GBK and does not announce it
    names = entry.utf8_names
    peer.nick = names.get("NN") or read_name(peer, entry.nick) or peer.user
    peer.group = names.get("GN") or read_name(peer, entry.group)
    if "UN" in names:
        peer.user = names["UN"]
    if "HN" in names:
        peer.host = names["HN"]


def read_text(peer: Peer, data: bytes, flagged: bool, forced: str | None) -> tuple[str, str]:
    """A message's text from an IP Messenger peer and the charset it was read in (``hex``
    when none fits); ``flagged``: the packet says UTF-8."""
    if flagged:
        peer.utf8 = True
        try:
            return data.decode(UTF8), UTF8
        except UnicodeDecodeError:
            pass
    chain = [c for c in (peer.encoding, forced) if c] + list(AUTO_CHAIN)
    for codec in dict.fromkeys(chain):
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if peer.encoding is None and not data.isascii() and codec == GB18030:
            peer.encoding = GB18030
        return text, codec
    return data.hex(" "), HEX


def read_plain(peer: Peer, data: bytes, forced: str | None) -> tuple[str, str]:
    """A plain peer's datagram as a line of text (its line end kept for our answers) and the
    charset it was read in."""
    decoded = decode_payload(data, peer.encoding or forced or AUTO)
    if decoded.encoding == HEX and (peer.encoding or forced):
        decoded = decode_payload(data, AUTO)
    if peer.encoding is None and decoded.encoding == GB18030:
        peer.encoding = GB18030  # evidence: not UTF-8, but valid GB18030
    elif peer.encoding is None and decoded.encoding == UTF8 and not data.isascii():
        peer.encoding = UTF8
    peer.line_end = "\r\n" if data.endswith(b"\r\n") else ("\n" if data.endswith(b"\n") else "")
    text = decoded.text
    if decoded.encoding != HEX:
        text = text.removesuffix("\n").removesuffix("\r")
    return text, decoded.encoding


def wire_encoding(peer: Peer, forced: str | None) -> tuple[str, int]:
    """The charset for a message to an IP Messenger peer, and UTF8OPT when UTF-8."""
    if peer.utf8:
        return UTF8, ipmsg.UTF8OPT
    encoding = peer.encoding or forced or UTF8
    return encoding, (ipmsg.UTF8OPT if encoding == UTF8 else 0)


def plain_encoding(peer: Peer, forced: str | None) -> str:
    """The charset for a message to a plain peer."""
    return peer.encoding or forced or UTF8
