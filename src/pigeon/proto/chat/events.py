"""What the messenger asks for and reports: datagrams to transmit, and chat events.

Nothing here decides anything: ``proto.chat.messenger`` makes these, the shells send and
show them. Kinds that were words are enums (``PeerChange``), so a consumer that forgets one
is told by the type checker.

The outputs are immutable NamedTuples rather than frozen dataclasses: several are made for
every datagram (the message, its ack, the event), and a frozen dataclass's ``__init__``
sets each field through ``object.__setattr__``, several times the cost of making a tuple
(bench/analysis.md, "Chat"). As tuples they would equal any tuple of the same values, a
``Delivered`` a ``NotDelivered`` of the same message; ``by_kind`` makes them equal only to
their own kind. ``PeerInfo`` stays a frozen dataclass: one is made per change of a peer,
not per message (``peers.Peer.info``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from pigeon.proto.address import format_endpoint
from pigeon.proto.chat import ipmsg

Addr = tuple[str, int]
T = TypeVar("T", bound=tuple[object, ...])


def _same_kind(self: tuple[object, ...], other: object) -> bool:
    return type(other) is type(self) and tuple.__eq__(self, other)


def _other_kind(self: tuple[object, ...], other: object) -> bool:
    return not _same_kind(self, other)


def by_kind(cls: type[T]) -> type[T]:
    """``cls`` (a NamedTuple) equal only to its own kind with the same values, so a record
    made per message can be a tuple without equalling other kinds of the same shape."""
    # mypy refuses assigning to methods; these replace tuple's own on purpose.
    cls.__eq__ = _same_kind  # type: ignore[method-assign]
    cls.__ne__ = _other_kind  # type: ignore[method-assign,assignment]
    cls.__hash__ = tuple.__hash__  # type: ignore[method-assign]
    return cls


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


@by_kind
class Transmit(NamedTuple):
    """Send ``data`` to ``addr``."""

    data: bytes
    addr: Addr


@by_kind
class PeerChanged(NamedTuple):
    """A peer joined, was updated or left."""

    peer: PeerInfo
    change: PeerChange


@by_kind
class MessageIn(NamedTuple):
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


@by_kind
class MessageOut(NamedTuple):
    """We sent message ``msg_id``; ``acked`` says whether an acknowledgement is awaited.
    ``broadcast``: to everyone (``/all``), ``peer`` is then ``EVERYONE``."""

    msg_id: int
    peer: PeerInfo
    text: str
    acked: bool
    packet_no: int | None = None
    broadcast: bool = False


@by_kind
class Delivered(NamedTuple):
    """Message ``msg_id`` was acknowledged after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@by_kind
class NotDelivered(NamedTuple):
    """No acknowledgement for ``msg_id`` after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@by_kind
class Released(NamedTuple):
    """``peer`` sent RELEASEFILES for our offer ``packet_no`` (or withdrew its own)."""

    peer: PeerInfo
    packet_no: int


@by_kind
class Flooded(NamedTuple):
    """``dropped`` datagrams from ``host`` (any of its ports; see ``peers.host_key``) were
    over its rate limit since the last report. ``host`` is empty for datagrams of hosts not
    yet settled, over the limit they share."""

    host: str
    dropped: int


ChatEvent = PeerChanged | MessageIn | MessageOut | Delivered | NotDelivered | Released | Flooded
Output = Transmit | ChatEvent
