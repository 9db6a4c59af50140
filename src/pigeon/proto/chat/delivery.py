"""Exactly once: our messages retransmitted until acknowledged, theirs shown once.

- Our messages are retransmitted every ``retry_interval`` up to ``tries`` times, then
  reported not delivered (``Outbox``). An ack counts only from the address the message went
  to, once.
- Duplicates of theirs are dropped by (address, packet number, content) in a bounded set
  (``SeenMessages``): a new message from a restarted sender that reused a number is still
  shown, a retransmission is not.
- Packet numbers start from ``packet_seed`` (clock milliseconds and random bits the shell
  passes in), so processes started one after another on one port never reuse a number.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import Addr, Delivered, NotDelivered, Output, PeerInfo, Transmit

RETRY_INTERVAL = 0.75
"""Seconds between retransmissions of an unacknowledged message (IP Messenger v4)."""
TRIES = 6
"""Transmissions of one message before it is reported not delivered."""
RECENT_LIMIT = 4096
"""(address, packet number, content hash) keys remembered for dedupe."""
PACKET_NO_LIMIT = 2**31
"""Packet numbers stay below this: peers (iptux, FeiQ) read them as integers, and below
2**31 a 32-bit integer, signed or not, gives them back unchanged."""
SEED_SLOTS = 2**8
"""Packet numbers per millisecond of the seed's clock; the low bits of a seed are random."""
SEED_CYCLE_MS = 2**22
"""The seed's clock repeats every 2**22 ms (about 70 minutes): seeds fill [1, 2**30]."""


def packet_seed(clock: float, noise: int) -> int:
    """The first packet number of a process started at Unix time ``clock`` (``noise``: random
    bits from the shell, e.g. ``os.urandom``).

    IP Messenger starts from the clock second, so two one-shot senders started within one
    second on one port reused each other's numbers, and the receiver swallowed the second as
    a duplicate. Here the clock counts milliseconds, each worth ``SEED_SLOTS`` numbers with
    the start among them at random: a process would have to send more than 256,000 packets a
    second to reach the numbers of one started after it on the same port. Two started in the
    same millisecond, after the clock was set back, or a whole ~70-minute cycle apart meet
    only by chance (random starts), and then the receiver's dedupe still tells them apart
    when their texts differ (the same text under the same number within the dedupe window is
    taken for a retransmission: acked, shown once). Seeds are at most 2**30, leaving 2**30
    numbers of headroom below ``PACKET_NO_LIMIT`` (after that the numbers wrap to 1).
    """
    millis = int(clock * 1000) % SEED_CYCLE_MS
    return 1 + millis * SEED_SLOTS + noise % SEED_SLOTS


@dataclass(slots=True)
class _Pending:
    msg_id: int
    packet_no: int
    data: bytes
    addr: Addr
    tries: int
    deadline: float


class Outbox:
    """Our messages awaiting an acknowledgement, by message id and by packet number."""

    def __init__(
        self, describe: Callable[[Addr], PeerInfo], *, retry_interval: float, tries: int
    ) -> None:
        """Args:
        describe: the peer an address is, for the events.
        retry_interval: seconds between retransmissions.
        tries: transmissions before a message is reported not delivered (at least one).
        """
        self._describe = describe
        self.retry_interval = retry_interval
        self.tries = max(1, tries)
        self._pending: dict[int, _Pending] = {}
        self._by_number: dict[int, int] = {}  # packet number -> msg_id of pending messages

    @property
    def waiting(self) -> Mapping[int, object]:
        """The messages awaiting an acknowledgement, by message id (a live, read-only view)."""
        return self._pending

    def add(self, msg_id: int, packet_no: int, data: bytes, addr: Addr, now: float) -> None:
        """Message ``msg_id``, sent just now as ``data``, awaits its acknowledgement."""
        self._pending[msg_id] = _Pending(
            msg_id, packet_no, data, addr, 1, now + self.retry_interval
        )
        self._by_number[packet_no] = msg_id

    def next_deadline(self) -> float | None:
        """When ``tick`` must next be called, or None when nothing is waiting."""
        return min((p.deadline for p in self._pending.values()), default=None)

    def acked(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        """A RECVMSG from ``addr``: ``Delivered`` when it acknowledges a pending message."""
        number = ipmsg.ack_number(packet.extra)
        if number is None:
            return []
        msg_id = self._by_number.get(number)
        pending = self._pending.get(msg_id) if msg_id is not None else None
        if pending is None or pending.addr[0] != addr[0]:
            return []  # a late duplicate ack, or one from elsewhere
        self._forget(pending)
        return [Delivered(pending.msg_id, self._describe(pending.addr), pending.tries)]

    def tick(self, now: float) -> list[Output]:
        """Retransmit what is due; report messages that ran out of tries."""
        outputs: list[Output] = []
        for pending in list(self._pending.values()):
            if pending.deadline > now:
                continue
            if pending.tries >= self.tries:
                self._forget(pending)
                outputs.append(
                    NotDelivered(pending.msg_id, self._describe(pending.addr), pending.tries)
                )
                continue
            pending.tries += 1
            pending.deadline = now + self.retry_interval
            outputs.append(Transmit(pending.data, pending.addr))
        return outputs

    def _forget(self, pending: _Pending) -> None:
        del self._pending[pending.msg_id]
        self._by_number.pop(pending.packet_no, None)


class SeenMessages:
    """The messages shown lately, so that a duplicate is acked again but not shown again."""

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self._limit = limit
        self._keys: OrderedDict[tuple[str | bytes, int | bytes, int, int], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def seen(self, packet: ipmsg.Packet, addr: Addr) -> bool:
        """Whether the SENDMSG ``packet`` from ``addr`` was seen before; remembered if not.

        A duplicate is the same message again: same sender, same number *and* same content
        (EXTRA: text and file list). A retransmission repeats its content; a new process on
        the same address and port that reuses a number sends other content, and keyed by the
        number alone that new message was acked and never shown. Content, not the whole
        datagram: the header (options, version) does not say which message it is, and a peer
        that rebuilds its packet for a retry must still be recognised. A key per (number,
        content), not the latest content per number, so a late retransmission of the older
        message is still known. hash() of bytes: 64 bits, stable in this process. A
        BROADCASTOPT message (``/all``) goes out as several copies under one number (one per
        peer in its charset, one per broadcast address), which may reach us by several of
        our addresses (IPv4 and IPv6): its sender's user and host and the number name it.
        """
        key: tuple[str | bytes, int | bytes, int, int]
        if packet.command & ipmsg.BROADCASTOPT:
            key = (packet.user, packet.host, packet.packet_no, -1)
        else:
            key = (addr[0], addr[1], packet.packet_no, hash(packet.extra))
        keys = self._keys
        if key in keys:
            return True
        keys[key] = None
        if len(keys) > self._limit:
            keys.popitem(last=False)
        return False
