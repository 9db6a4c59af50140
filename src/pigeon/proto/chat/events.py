"""What the messenger asks for and reports: datagrams to transmit, and chat events.

Every output is a frozen dataclass, compared by value. Kinds that were words are enums
(``PeerChange``), so a consumer that forgets one is told by the type checker. Nothing here
decides anything: ``proto.chat.messenger`` makes these, the shells send and show them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pigeon.proto.address import format_endpoint
from pigeon.proto.chat import ipmsg

Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A snapshot of what we know about a peer, for events and listings."""

    addr: Addr
    name: str
    user: str
    host: str
    group: str
    version: str
    encoding: str
    plain: bool

    @property
    def endpoint(self) -> str:
        """``ip:port`` of the peer."""
        return format_endpoint(*self.addr)


EVERYONE = PeerInfo(("255.255.255.255", ipmsg.DEFAULT_PORT), "everyone", "", "", "", "", "", False)
"""Whom an ``/all`` message is shown as sent to."""


class PeerChange(enum.Enum):
    """What happened to a peer; the value is the word scripts see (``--json``)."""

    JOINED = "joined"
    UPDATED = "updated"
    """A new name or group."""
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``data`` to ``addr``."""

    data: bytes
    addr: Addr


@dataclass(frozen=True, slots=True)
class PeerChanged:
    """A peer joined, was updated or left."""

    peer: PeerInfo
    change: PeerChange


@dataclass(frozen=True, slots=True)
class MessageIn:
    """A message arrived. ``encoding`` is how it was read (``hex`` when undecodable);
    ``transient``: from a one-shot that is not listed (NOADDLISTOPT), gone once acked."""

    peer: PeerInfo
    text: str
    encoding: str
    plain: bool
    broadcast: bool = False
    packet_no: int | None = None
    attachments: bytes = b""
    transient: bool = False


@dataclass(frozen=True, slots=True)
class MessageOut:
    """We sent message ``msg_id``; ``acked`` says whether an acknowledgement is awaited.
    ``broadcast``: to everyone (``/all``), ``peer`` is then ``EVERYONE``."""

    msg_id: int
    peer: PeerInfo
    text: str
    acked: bool
    packet_no: int | None = None
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class Delivered:
    """Message ``msg_id`` was acknowledged after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@dataclass(frozen=True, slots=True)
class NotDelivered:
    """No acknowledgement for ``msg_id`` after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@dataclass(frozen=True, slots=True)
class Released:
    """``peer`` sent RELEASEFILES for our offer ``packet_no`` (or withdrew its own)."""

    peer: PeerInfo
    packet_no: int


@dataclass(frozen=True, slots=True)
class Flooded:
    """``dropped`` datagrams from ``host`` (any of its ports; see ``peers.host_key``) were
    over its rate limit since the last report. ``host`` is empty for datagrams of hosts not
    yet settled, over the limit they share."""

    host: str
    dropped: int


ChatEvent = PeerChanged | MessageIn | MessageOut | Delivered | NotDelivered | Released | Flooded
Output = Transmit | ChatEvent
