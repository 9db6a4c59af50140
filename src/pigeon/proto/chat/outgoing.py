"""Our packets: numbered, headed with our names, and recognised when they come back.

Numbers go up by one from the seed (``delivery.packet_seed``) and wrap to 1 below
``PACKET_NO_LIMIT``. Names in a header are in UTF-8 when the packet says UTF8OPT, else in
the legacy charset (the one the user chose, GB18030 for ``auto``); both header prefixes are
made once per identity. A packet we may hear again (a broadcast comes back to our own port)
is remembered with a hash of its bytes, so our own echo is dropped even when another peer
on a same-named host happens to use the same number. A one-shot (``transient``) marks every
packet NOADDLISTOPT (see ``messenger``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.delivery import PACKET_NO_LIMIT, RECENT_LIMIT
from pigeon.proto.chat.learning import GB18030
from pigeon.proto.text import AUTO


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who we are on the wire. ``encoding`` is ``auto`` or the legacy charset to use."""

    user: str
    host: str
    nick: str
    group: str = ""
    version: str = "1_pigeon"
    encoding: str = AUTO
    attachments: bool = False


class OurPackets:
    """How we write packets, and which of those in flight are ours."""

    def __init__(self, identity: Identity, *, first_packet_no: int, transient: bool) -> None:
        self.identity = identity
        self.unlisted = ipmsg.NOADDLISTOPT if transient else 0
        """NOADDLISTOPT for a one-shot, else 0: or-ed into every command we send."""
        self._number = first_packet_no % PACKET_NO_LIMIT
        self._heads_of: Identity | None = None  # whom ``_heads`` were made for
        self._heads: tuple[tuple[bytes, bytes], tuple[bytes, bytes]] = ((b"", b""), (b"", b""))
        self._own: OrderedDict[int, int] = OrderedDict()
        """Packet numbers we sent, with a hash of the bytes."""

    @property
    def forced(self) -> str | None:
        """The charset the user chose for legacy peers; None for ``auto``."""
        encoding = self.identity.encoding
        return encoding if encoding != AUTO else None

    def legacy(self) -> str:
        """The charset of our names where UTF-8 is not said."""
        return self.forced or GB18030

    def next_no(self) -> int:
        """The next packet number: one more than the last, wrapping to 1 at the limit."""
        number = self._number + 1
        if number >= PACKET_NO_LIMIT:
            number = 1
        self._number = number
        return number

    def head(self, utf8: bool) -> tuple[bytes, bytes]:
        """Our header's fixed parts (names in UTF-8 or in the legacy charset), made once."""
        if self._heads_of is not self.identity:
            ident, legacy = self.identity, self.legacy()
            self._heads = (
                ipmsg.header_prefix(
                    ident.version,
                    ident.user.encode(legacy, "replace"),
                    ident.host.encode(legacy, "replace"),
                ),
                ipmsg.header_prefix(ident.version, ident.user.encode(), ident.host.encode()),
            )
            self._heads_of = ident
        return self._heads[utf8]

    def packet(self, command: int, extra: bytes, *, utf8: bool) -> tuple[int, bytes]:
        """A new packet of ours, remembered as ours; its number and bytes."""
        number = self.next_no()
        data = ipmsg.packet_bytes(self.head(utf8), number, command, extra)
        self.remember(number, data)
        return number, data

    def ack(self, command: int, number: int) -> bytes:
        """RECVMSG or READMSG for packet ``number``. It never comes back to us (we never
        receive our own SENDMSG), so unlike ``packet`` it is not remembered as ours."""
        head = self.head(False)
        return b"%s%d%s%d:%d\0" % (head[0], self.next_no(), head[1], command, number)

    def remember(self, number: int, data: bytes) -> None:
        """``data``, numbered ``number``, is ours should it come back."""
        self._own[number] = hash(data)
        if len(self._own) > RECENT_LIMIT:
            self._own.popitem(last=False)

    def is_own(self, number: int, data: bytes) -> bool:
        """Whether ``data`` is a packet of ours come back."""
        return self._own.get(number) == hash(data)

    def entry(self) -> bytes:
        """The EXTRA of our entry packets: nick and group, in both charsets."""
        ident = self.identity
        return ipmsg.entry_extra(
            nick=ident.nick,
            group=ident.group,
            user=ident.user,
            host=ident.host,
            legacy=self.legacy(),
        )

    def entry_options(self) -> int:
        """Options of our entry packets: what we can do, and NOADDLISTOPT for a one-shot."""
        attach = ipmsg.FILEATTACHOPT if self.identity.attachments else 0
        return ipmsg.CAPUTF8OPT | attach | self.unlisted
