"""What the shells report and ``ui`` shows: one small immutable record per thing that
happened, and the results commands return.

Beside the layers: ``aio`` makes these records, ``ui`` renders them, and neither needs the
other for it. Records only: this module imports nothing of pigeon but the chat protocol's
own records (``proto.chat``), which some of these carry.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.events import ChatEvent, PeerInfo, by_kind


@dataclass(frozen=True, slots=True)
class Listening:
    """A server is ready. ``reach`` lists endpoints other machines can use."""

    protocol: str
    local: str
    port: int
    reach: tuple[str, ...]
    hint: str


@dataclass(frozen=True, slots=True)
class DatagramSent:
    """One datagram left this machine."""

    peer: str
    size: int


@dataclass(frozen=True, slots=True)
class DatagramReceived:
    """One datagram arrived; ``time`` is the wall-clock receive time (epoch seconds).

    ``decode_as`` is how the user asked to read it (``auto`` or a charset), not a result.
    """

    time: float
    peer: str
    data: bytes
    decode_as: str


@dataclass(frozen=True, slots=True)
class ClientConnected:
    """A TCP client connected to a listening server."""

    time: float
    peer: str


@dataclass(frozen=True, slots=True)
class StreamReceived:
    """Bytes read from a TCP client (one read; TCP keeps no message boundaries)."""

    time: float
    peer: str
    data: bytes
    decode_as: str


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    """A TCP client's connection ended (``reason`` is empty for an orderly close)."""

    time: float
    peer: str
    bytes_in: int
    bytes_out: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PingProbe:
    """One TCP connect probe: ``outcome`` is ``connected``, ``refused`` or an error text."""

    seq: int
    peer: str
    outcome: str
    rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class Notice:
    """A line of information for the user (stderr), not data."""

    text: str
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestServed:
    """One answer of ``pigeon serve`` (its access log): ``sent`` body bytes, ``status`` 0 when
    no head went out; ``remembered`` when answered from memory, ``cut`` when it ended early.
    ``as_json`` is how the user asked the log to be written, not a result."""

    time: float
    peer: str
    method: str
    path: str
    status: int
    sent: int
    ms: float
    remembered: bool = False
    cut: bool = False
    as_json: bool = False


Event = (
    Listening
    | DatagramSent
    | DatagramReceived
    | ClientConnected
    | StreamReceived
    | ClientDisconnected
    | PingProbe
    | Notice
    | RequestServed
)
Emit = Callable[[Event], None]


def noticing(emit: Emit) -> Callable[[str], None]:
    """One-line notices handed to ``emit`` as ``Notice`` records."""
    return lambda text: emit(Notice(text))


# ----- downloads ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a finished download produced.

    Attributes:
        path: the final file, or None when streamed (stdout, a device).
        bytes: size of the whole file.
        digest: hex SHA-256 of the whole file.
        resumed_from: byte offset the last attempt continued from (0: from the start).
        verified: True when the peer's SHA-256 was checked and matched.
        already_here: the file was already under the final name, identical (kept as it was).
    """

    path: Path | None
    bytes: int
    digest: str
    resumed_from: int
    verified: bool
    already_here: bool = False


# ----- chat sessions ------------------------------------------------------------------


class TransferKind(enum.Enum):
    """What a ``TransferNote`` says; the value is the word scripts see (``--json``)."""

    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"
    PROGRESS = "progress"
    RECEIVED = "received"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class TransferNote:
    """Something about a transfer, for the screen."""

    kind: TransferKind
    index: int
    name: str
    peer: str
    done: int = 0
    total: int = 0
    detail: str = ""


Note = Callable[[TransferNote], None]


@dataclass(frozen=True, slots=True)
class PeerTable:
    """The answer to ``/peers`` (and ``pigeon peers``)."""

    peers: tuple[PeerInfo, ...]


@dataclass(frozen=True, slots=True)
class TargetChanged:
    """Typed lines now go to ``peer``."""

    peer: PeerInfo


class MessageState(enum.Enum):
    """Where a message of the session stands; the value is the word ``/history`` shows."""

    RECEIVED = "received"
    SENDING = "sending"
    """Sent, its acknowledgement awaited."""
    SENT = "sent"
    """Sent, no acknowledgement awaited (a plain peer, ``/all``)."""
    DELIVERED = "delivered"
    NOT_DELIVERED = "not delivered"


@by_kind
class HistoryEntry(NamedTuple):
    """One message of the session; a NamedTuple, as the messenger's events are (one is
    made per message: see ``proto.chat.events``)."""

    time: float
    outgoing: bool
    peer: str
    text: str
    state: MessageState


@dataclass(frozen=True, slots=True)
class HistoryView:
    """The answer to ``/history``."""

    entries: tuple[HistoryEntry, ...]


@dataclass(frozen=True, slots=True)
class OfferView:
    """An offer of files: made to us (``incoming``) or by us; ``index`` names it in commands."""

    index: int
    peer: PeerInfo
    entries: tuple[files.FileEntry, ...]
    incoming: bool


class OfferEnd(enum.Enum):
    """How an offer ended; the value is the word scripts see (``--json``)."""

    REFUSED = "refused"
    """We refused the peer's offer: its file list is malformed, or too many wait."""
    DECLINED = "declined"
    """The peer declined our offer."""
    WITHDREW = "withdrew"
    """The peer withdrew its offer."""


@dataclass(frozen=True, slots=True)
class OfferEnded:
    """A peer's offer refused (``reason`` says why), or an offer ``index`` the peer ended.

    An event of its own, not a ``Notice``: a notice's text is ours, while this line names a
    peer, and the view escapes the peer's strings as it does in every other line.
    """

    kind: OfferEnd
    peer: PeerInfo
    index: int = 0
    reason: str = ""


SessionEvent = (
    ChatEvent
    | Notice
    | PeerTable
    | TargetChanged
    | HistoryView
    | OfferView
    | TransferNote
    | OfferEnded
)
ShowSession = Callable[[SessionEvent], None]
