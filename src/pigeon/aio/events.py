"""What the network shells report: one small frozen record per thing that happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


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
