"""The IP Messenger peer table and delivery state machine, driven by explicit time.

Feed it datagrams (``receive``), the user's actions (``send_text``, ``enter``, ``leave``,
``rename``) and the clock (``tick``); each call returns what to transmit and what happened.
No sockets, no sleeps: the shell owns the clock and calls ``tick`` at ``next_deadline()``.

Rules kept here (see reference ipmsg.md):
- SENDMSG with SENDCHECKOPT is acknowledged with RECVMSG, again for every duplicate (the
  first ack may have been lost); BROADCASTOPT and AUTORETOPT messages never are. The ack
  follows the ``MessageIn`` in the outputs, so the shell shows a message before it says
  "received": an ack means shown, now or earlier.
- Our messages are retransmitted every ``retry_interval`` up to ``tries`` times, then
  reported not delivered. Duplicates are dropped by (address, packet number, content) in a
  bounded set: a new message from a restarted sender that reused a number is still shown.
- Packet numbers start from ``packet_seed`` (clock milliseconds and random bits the shell
  passes in), so processes started one after another on one port never reuse a number.
- A datagram that is not an IP Messenger packet comes from a *plain* peer (the tutorial's
  chat, ``nc -u``) and is answered in plain text.
- A peer's legacy encoding is learned only from evidence; UTF-8 is used when it says so.
- A one-shot (``pigeon send``, ``pigeon peers``: ``transient``) marks every packet
  NOADDLISTOPT, its BR_ENTRY and BR_EXIT too: it asks who is there without joining. Such an
  entry is answered (ANSENTRY) but not listed, so other chats show no "joined"/"left" for a
  command that lived a second (IP Messenger defines the flag for SENDMSG; clients that ignore
  it on entries list the one-shot until its BR_EXIT, as before).
- Each sending host has a token bucket; datagrams over it are dropped and counted. A host
  is an IP address (``host_key``; an IPv4-mapped IPv6 address is its IPv4 address). Not
  (IP, port): a port costs nothing, and a flood spread over a thousand source ports is still
  one flood. Not an IPv6 /64 either, though a host may pick any address of its /64: on a LAN
  every IPv6 peer shares the link's /64, so a /64 key would put them all in one bucket and
  one small share of the table; the rotation of addresses is bounded below instead. The
  peer table is keyed by (IP, port), since several chats may run on one host, but holds at
  most ``PEERS_PER_HOST`` entries of one address: its new ports push out its own least
  recently heard entries, never another host's peers.
- Buckets are kept for ``HOST_LIMIT`` hosts, so the per-host limit alone could be escaped by
  rotating through more source addresses than that: each would find its bucket evicted and
  start a full one. So a host's own bucket is not enough until it is *settled*: until
  ``SETTLE`` seconds after its first admitted datagram, every datagram it sends also takes a
  token from one bucket shared by all newcomers (``NEWCOMER_SHARE`` times the per-host rate
  and burst), and a host the shared bucket refuses is not added to the table at all (so it
  cannot push settled hosts out faster than the shared rate admits). Hosts not yet settled
  together get at most the shared rate, however many addresses they use. Shared rather than "new
  hosts start with few tokens": a few tokens each is still unbounded over unbounded
  addresses. A few times the per-host rate, so one flooding newcomer (held to the per-host
  rate by its own bucket) cannot empty it for the others; human chat rates and the entry
  exchange of a starting chat are far below it. Under a flood from rotating addresses the
  settled peers keep their own buckets; a newcomer competes with the flood until it settles.
  The flood is reported per host, and the newcomers' drops as one ``Flooded`` with no host.
  An IPv6 sender rotating through the addresses of its /64 is such a crowd of newcomers.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from pigeon.errors import UsageError
from pigeon.proto.address import format_endpoint
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.records import record
from pigeon.proto.text import AUTO, AUTO_CHAIN, HEX, decode_payload, encode_text

Addr = tuple[str, int]

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
PEER_LIMIT = 1024
"""Peers kept; the least recently heard is forgotten first."""
PEERS_PER_HOST = 16
"""Peers (ports) kept for one host (``host_key``); the least recently heard of that host is
forgotten first."""
HOST_LIMIT = 1024
"""Hosts whose rate is tracked; the least recently heard is forgotten first."""
RATE_PER_SECOND = 200.0
"""Datagrams per second one host may send before the excess is dropped."""
RATE_BURST = 400.0
NEWCOMER_SHARE = 4.0
"""The bucket shared by hosts not yet settled has this many times a host's rate and burst."""
SETTLE = 10.0
"""Seconds after its first admitted datagram a host draws from the shared bucket too."""
HOST_KEYS_KEPT = 4096
FLOOD_REPORT_INTERVAL = 5.0
UTF8 = "utf-8"
GB18030 = "gb18030"


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


@record
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


@dataclass(slots=True)
class _Peer:
    addr: Addr
    nick: str = ""
    user: str = ""
    host: str = ""
    group: str = ""
    version: str = ""
    plain: bool = False
    utf8: bool = False
    encoding: str | None = None
    line_end: str = ""  # a plain peer that ends its lines (nc) gets ours ended the same way

    snapshot: tuple[tuple[object, ...], PeerInfo] | None = None
    """The last ``info()`` and the fields it was made from (one is made per message)."""

    def info(self) -> PeerInfo:
        key = (self.nick, self.user, self.host, self.group, self.version, self.utf8,
               self.encoding, self.plain)  # fmt: skip
        snapshot = self.snapshot
        if snapshot is not None and snapshot[0] == key:
            return snapshot[1]
        name = self.nick or self.user or format_endpoint(*self.addr)
        shown = UTF8 if self.utf8 else (self.encoding or "unknown")
        made = PeerInfo(
            self.addr,
            name,
            self.user,
            self.host,
            self.group,
            self.version,
            shown,
            self.plain,
        )
        self.snapshot = (key, made)
        return made


def host_key(ip: str) -> str:
    """The host a datagram from ``ip`` counts against, for the rate limit and the per-host
    share of the peer table: the address, an IPv4-mapped IPv6 address as its IPv4 address
    (the dual-stack socket sees IPv4 peers so). Text that is no IP address is its own key."""
    if not ip.startswith("::ffff:"):
        return ip
    try:
        mapped = ipaddress.IPv6Address(ip).ipv4_mapped
    except ValueError:
        return ip
    return str(mapped) if mapped is not None else ip


EVERYONE = PeerInfo(("255.255.255.255", ipmsg.DEFAULT_PORT), "everyone", "", "", "", "", "", False)
"""Whom an ``/all`` message is shown as sent to."""


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


# --- outputs -----------------------------------------------------------------------------


@record
class Transmit:
    """Send ``data`` to ``addr``."""

    data: bytes
    addr: Addr


@record
class PeerChanged:
    """A peer ``joined``, was ``updated`` (new name or group) or ``left``."""

    peer: PeerInfo
    change: str


@record
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


@record
class MessageOut:
    """We sent message ``msg_id``; ``acked`` says whether an acknowledgement is awaited.
    ``broadcast``: to everyone (``/all``), ``peer`` is then ``EVERYONE``."""

    msg_id: int
    peer: PeerInfo
    text: str
    acked: bool
    packet_no: int | None = None
    broadcast: bool = False


@record
class Delivered:
    """Message ``msg_id`` was acknowledged after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@record
class NotDelivered:
    """No acknowledgement for ``msg_id`` after ``tries`` transmissions."""

    msg_id: int
    peer: PeerInfo
    tries: int


@record
class Released:
    """``peer`` sent RELEASEFILES for our offer ``packet_no`` (or withdrew its own)."""

    peer: PeerInfo
    packet_no: int


@record
class Flooded:
    """``dropped`` datagrams from ``host`` (any of its ports; see ``host_key``) were over its
    rate limit since the last report. ``host`` is empty for
    datagrams of hosts not yet settled, over the limit they share."""

    host: str
    dropped: int


ChatEvent = PeerChanged | MessageIn | MessageOut | Delivered | NotDelivered | Released | Flooded
Output = Transmit | ChatEvent


@dataclass(slots=True)
class _Pending:
    msg_id: int
    packet_no: int
    data: bytes
    addr: Addr
    tries: int
    deadline: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    settled: float = -1e18
    """From this time on the host no longer draws from the shared bucket too."""
    dropped: int = 0
    reported: float = field(default=-1e18)


class Messenger:
    """One chat endpoint's protocol state: peers, pending acks, dedupe, rate limits."""

    def __init__(
        self,
        identity: Identity,
        *,
        first_packet_no: int,
        retry_interval: float = RETRY_INTERVAL,
        tries: int = TRIES,
        rate: float = RATE_PER_SECOND,
        burst: float = RATE_BURST,
        transient: bool = False,
    ) -> None:
        """Args:
        identity: our names and encoding.
        first_packet_no: seed for packet numbers, ``packet_seed(...)`` (IP Messenger uses
            the Unix time); the first packet is numbered one more.
        retry_interval: seconds between retransmissions.
        tries: transmissions before a message is reported not delivered.
        rate, burst: per-host token bucket (datagrams per second, bucket size); hosts not
            yet settled share one of ``NEWCOMER_SHARE`` times these.
        transient: a one-shot: every packet says NOADDLISTOPT (do not list me).
        """
        self.identity = identity
        self._heads_of: Identity | None = None  # whom ``_heads`` were made for
        self._heads: tuple[tuple[bytes, bytes], tuple[bytes, bytes]] = ((b"", b""), (b"", b""))
        self.retry_interval = retry_interval
        self.transient = transient
        self._unlisted = ipmsg.NOADDLISTOPT if transient else 0
        self.tries = max(1, tries)
        self.rate = rate
        self.burst = burst
        self._packet_no = first_packet_no % PACKET_NO_LIMIT
        self._msg_id = 0
        self._peers: OrderedDict[Addr, _Peer] = OrderedDict()
        self._hosts: dict[str, OrderedDict[Addr, None]] = {}
        """Each host's entries of ``_peers``, least recently heard first (for the per-host
        cap), by ``host_key``."""
        self._keys: dict[str, str] = {}
        """``host_key`` of the IPv6 addresses heard lately (it costs a parse)."""
        self._recent: OrderedDict[tuple[str | bytes, int | bytes, int, int], None] = OrderedDict()
        """Dedupe: (ip, port, packet number, hash of EXTRA) of the messages shown."""
        self._own: OrderedDict[int, int] = OrderedDict()
        """Packet numbers we sent, with a hash of the bytes: recognises our own echo even
        when another peer on a same-named host happens to use the same number."""
        self._pending: dict[int, _Pending] = {}
        self._by_number: dict[int, int] = {}  # packet number -> msg_id of pending messages
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # by host_key
        self._shared = _Bucket(NEWCOMER_SHARE * burst, -1e18)
        """The bucket every datagram of a host not yet settled also draws from."""
        self.dropped = 0
        self.ignored = 0
        self.own_port: int | None = None
        """Our bound port: a broadcast of ours comes back from it (set by the shell)."""

    # --- queries ---------------------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        """Known peers, in the order they were last heard from (oldest first)."""
        return [peer.info() for peer in self._peers.values()]

    def peer(self, addr: Addr) -> PeerInfo | None:
        """The peer at ``addr``, if known."""
        found = self._peers.get(addr)
        return found.info() if found else None

    def find(self, name: str) -> list[PeerInfo]:
        """Peers whose nick, user, host or ``ip:port`` is ``name`` (case-insensitive)."""
        wanted = name.casefold()
        return [
            peer.info()
            for peer in self._peers.values()
            if wanted
            in (
                peer.nick.casefold(),
                peer.user.casefold(),
                peer.host.casefold(),
                format_endpoint(*peer.addr).casefold(),
            )
        ]

    @property
    def pending(self) -> int:
        """Messages still waiting for an acknowledgement."""
        return len(self._pending)

    @property
    def waiting(self) -> Mapping[int, object]:
        """The messages awaiting an acknowledgement, by message id (a live, read-only view:
        fetch it once, test its truth as often as needed)."""
        return self._pending

    def next_deadline(self) -> float | None:
        """When ``tick`` must next be called, or None when nothing is waiting."""
        return min((p.deadline for p in self._pending.values()), default=None)

    # --- actions ---------------------------------------------------------------------------

    def enter(self, targets: list[Addr], *, absence: bool = False) -> list[Output]:
        """BR_ENTRY (or BR_ABSENCE for a name change) to each of ``targets``."""
        mode = ipmsg.BR_ABSENCE if absence else ipmsg.BR_ENTRY
        return self._to_all(targets, mode | self._entry_options(), self._entry())

    def leave(self, targets: list[Addr]) -> list[Output]:
        """BR_EXIT to each of ``targets`` (and to every known IP Messenger peer)."""
        known = [p.addr for p in self._peers.values() if not p.plain]
        every = list(dict.fromkeys([*targets, *known]))
        return self._to_all(every, ipmsg.BR_EXIT | ipmsg.CAPUTF8OPT | self._unlisted, self._entry())

    def rename(self, nick: str, targets: list[Addr]) -> list[Output]:
        """Take a new nick and tell ``targets`` and every known peer (BR_ABSENCE)."""
        self.identity = Identity(
            user=self.identity.user,
            host=self.identity.host,
            nick=nick,
            group=self.identity.group,
            version=self.identity.version,
            encoding=self.identity.encoding,
            attachments=self.identity.attachments,
        )
        known = [p.addr for p in self._peers.values() if not p.plain]
        return self.enter(list(dict.fromkeys([*targets, *known])), absence=True)

    def add_peer(self, addr: Addr, *, plain: bool = False) -> PeerInfo:
        """Remember ``addr`` as a peer we intend to talk to (before it has spoken)."""
        peer = self._touch(addr)
        if plain and not peer.plain:
            # Named plain before it has spoken: our lines end with a newline, so each shows
            # as a line on an `nc -u -l` screen. Once it speaks, its own line ends are copied.
            peer.plain = True
            peer.line_end = "\n"
        return peer.info()

    def send_text(
        self,
        addr: Addr,
        text: str,
        now: float,
        *,
        check: bool = True,
        noaddlist: bool = False,
        broadcast: bool = False,
        extra_options: int = 0,
        attachments: bytes = b"",
    ) -> tuple[int, list[Output]]:
        """Send ``text`` to ``addr``; returns the local message id and the outputs.

        With ``check`` (and not ``broadcast``) the message is retransmitted until acked.
        Plain peers get the bare text in their encoding and no ack is awaited.

        Raises:
            DatagramTooLong: the encoded text is over ``ipmsg.MAX_TEXT_BYTES``.
            UsageError: the text cannot be written in the peer's encoding.
        """
        peer = self._peers.get(addr) or self._touch(addr)
        self._msg_id += 1
        msg_id = self._msg_id
        if peer.plain:
            body = encode_text(text + peer.line_end, self._plain_encoding(peer))
            ipmsg.check_text_size(body)
            return msg_id, [Transmit(body, addr), MessageOut(msg_id, peer.info(), text, False)]
        if peer.utf8:
            encoding, flag = UTF8, ipmsg.UTF8OPT
        else:
            encoding, flag = self._wire_encoding(peer)
        try:
            body = text.encode(encoding)
        except UnicodeEncodeError:
            body = encode_text(text, encoding)  # raises, naming the character
        if len(body) > ipmsg.MAX_TEXT_BYTES:
            ipmsg.check_text_size(body)  # raises, saying why
        acked = check and not broadcast
        options = (
            flag
            | extra_options
            | (ipmsg.SENDCHECKOPT if acked else 0)
            | (ipmsg.BROADCASTOPT if broadcast else 0)
            | (ipmsg.NOADDLISTOPT if noaddlist else self._unlisted)
        )
        if attachments:
            body += b"\0" + attachments
        packet_no, data = self._packet(ipmsg.SENDMSG | options, body, utf8=bool(flag))
        if acked:
            self._pending[msg_id] = _Pending(
                msg_id, packet_no, data, addr, 1, now + self.retry_interval
            )
            self._by_number[packet_no] = msg_id
        return msg_id, [
            Transmit(data, addr),
            MessageOut(msg_id, peer.info(), text, acked, packet_no),
        ]

    def broadcast_text(
        self, text: str, peers: list[Addr], broadcasts: list[Addr]
    ) -> tuple[int, list[Output]]:
        """``/all``: ``text`` as ONE message to every peer in ``peers`` and every broadcast
        address; never acknowledged. Returns the message id and the outputs.

        One packet number for every copy: a peer the message reaches twice (by its own copy
        and a broadcast, or by two broadcast addresses of one LAN) gets the same number and,
        in its encoding, the same content, and shows it once. Peers' own copies go first, in
        the charset each reads, so a client that drops repeats by number alone keeps the
        readable one. Broadcast addresses are not peers and are never added to the table.

        Raises:
            UsageError: nobody to send to. DatagramTooLong, UsageError: as ``send_text``.
        """
        if not peers and not broadcasts:
            raise UsageError("nobody to send to: no peer known and broadcast is off")
        number = self._next_no()
        command = ipmsg.SENDMSG | ipmsg.BROADCASTOPT | self._unlisted
        outputs: list[Output] = []
        made: dict[tuple[str, bool, str], bytes] = {}  # (charset, plain, line end) -> datagram
        for addr in peers:
            peer = self._peers.get(addr) or _Peer(addr)
            encoding = self._plain_encoding(peer) if peer.plain else self._wire_encoding(peer)[0]
            key = (encoding, peer.plain, peer.line_end)
            if key not in made:
                made[key] = self._copy(text, number, command, encoding, peer)
            outputs.append(Transmit(made[key], addr))
        if broadcasts:
            stranger = _Peer(broadcasts[0])
            data = self._copy(text, number, command, self._wire_encoding(stranger)[0], stranger)
            self._own[number] = hash(data)  # it comes back to us: recognised as ours
            outputs += [Transmit(data, addr) for addr in broadcasts]
        self._msg_id += 1
        outputs.append(MessageOut(self._msg_id, EVERYONE, text, False, number, broadcast=True))
        return self._msg_id, outputs

    def _copy(self, text: str, number: int, command: int, encoding: str, peer: _Peer) -> bytes:
        """One copy of an ``/all`` message: bare text for a plain peer, else a packet."""
        if peer.plain:
            body = encode_text(text + peer.line_end, encoding)
            ipmsg.check_text_size(body)
            return body
        body = encode_text(text, encoding)
        ipmsg.check_text_size(body)
        utf8 = encoding == UTF8
        flag = ipmsg.UTF8OPT if utf8 else 0
        return ipmsg.packet_bytes(self._head(utf8), number, command | flag, body)

    def tick(self, now: float) -> list[Output]:
        """Retransmit what is due; report messages that ran out of tries."""
        outputs: list[Output] = []
        for pending in list(self._pending.values()):
            if pending.deadline > now:
                continue
            if pending.tries >= self.tries:
                self._forget(pending)
                outputs.append(
                    NotDelivered(pending.msg_id, self._info(pending.addr), pending.tries)
                )
                continue
            pending.tries += 1
            pending.deadline = now + self.retry_interval
            outputs.append(Transmit(pending.data, pending.addr))
        return outputs

    # --- input -----------------------------------------------------------------------------

    def receive(self, data: bytes, addr: Addr, now: float) -> list[Output]:
        """Everything one received datagram causes."""
        host = addr[0]
        if ":" in host:
            host = self._key(host)
        bucket = self._buckets.get(host)
        if bucket is not None and bucket.tokens >= 1.0 and now >= bucket.settled:
            # the common case of ``_admit`` (a settled host within its rate), inline
            self._buckets.move_to_end(host)
            tokens = bucket.tokens + (now - bucket.stamp) * self.rate
            bucket.tokens = (tokens if tokens < self.burst else self.burst) - 1.0
            bucket.stamp = now
        else:
            refused = self._admit(host, now)
            if refused is not None:
                return refused
        packet = ipmsg.parse_packet(data)
        if packet is None:
            return self._plain(data, addr)
        if addr[1] == self.own_port and self._own.get(packet.packet_no) == hash(data):
            return []  # our own broadcast, come back to us
        handler = _HANDLERS.get(packet.command & ipmsg.MODE_MASK)
        if handler is None:
            self.ignored += 1  # FeiQ typing/shake packets, encryption, ...: ignored politely
            return []
        return handler(self, packet, addr)

    # --- handlers ----------------------------------------------------------------------------

    def _on_entry(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        outputs: list[Output] = []
        if not packet.has(ipmsg.NOADDLISTOPT) or addr in self._peers:
            peer, change = self._learn(packet, addr)
            if change:
                outputs.append(PeerChanged(peer.info(), change))
        # else a one-shot asking who is there: answered, never listed
        if packet.mode == ipmsg.BR_ENTRY:
            _no, data = self._packet(
                ipmsg.ANSENTRY | self._entry_options(), self._entry(), utf8=False
            )
            outputs.append(Transmit(data, addr))
        return outputs

    def _on_exit(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        peer = self._forget_peer(addr)
        if peer is None:
            return []
        return [PeerChanged(peer.info(), "left")]

    def _on_message(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        # The hot path of a busy chat: option bits tested inline (every option is one bit).
        command, number = packet.command, packet.packet_no
        no_reply = command & (ipmsg.BROADCASTOPT | ipmsg.AUTORETOPT)
        ack = command & ipmsg.SENDCHECKOPT and not no_reply
        # A duplicate is the same message again: same sender, same number *and* same content
        # (EXTRA: text and file list). A retransmission repeats its content; a new process on
        # the same address and port that reuses a number sends other content, and keyed by
        # the number alone that new message was acked and never shown. Content, not the whole
        # datagram: the header (options, version) does not say which message it is, and a
        # peer that rebuilds its packet for a retry must still be recognised. A key per
        # (number, content), not the latest content per number, so a late retransmission of
        # the older message is still known. hash() of bytes: 64 bits, stable in this process.
        # A BROADCASTOPT message (``/all``) goes out as several copies under one number (one
        # per peer in its charset, one per broadcast address), which may reach us by several
        # of our addresses (IPv4 and IPv6): its sender's user and host and the number name it.
        key: tuple[str | bytes, int | bytes, int, int]
        if command & ipmsg.BROADCASTOPT:
            key = (packet.user, packet.host, number, -1)
        else:
            key = (addr[0], addr[1], number, hash(packet.extra))
        recent = self._recent
        if key in recent:
            # Shown already: ack it again (the first ack may have been lost), show nothing.
            return [Transmit(self._ack(ipmsg.RECVMSG, number), addr)] if ack else []
        recent[key] = None
        if len(recent) > RECENT_LIMIT:
            recent.popitem(last=False)
        outputs: list[Output] = []
        peer = self._peers.get(addr)
        change = ""
        transient = False
        if peer is not None and peer.version and peer.user:  # a peer already introduced
            self._heard(addr)
            if command & (ipmsg.UTF8OPT | ipmsg.CAPUTF8OPT):
                peer.utf8 = True
            peer.plain = False
        elif peer is not None or not command & ipmsg.NOADDLISTOPT:
            peer, change = self._learn_sender(packet, addr)
        else:
            peer = self._transient(packet, addr)
            transient = True
        if change == "joined":
            outputs.append(PeerChanged(peer.info(), change))
            # Ask the newcomer who it is; its ANSENTRY fills in nick and group.
            _no, entry = self._packet(
                ipmsg.BR_ENTRY | self._entry_options(), self._entry(), utf8=False
            )
            outputs.append(Transmit(entry, addr))
        text_bytes, _sep, rest = packet.extra.partition(b"\0")
        attachments = rest.rstrip(b"\0") if command & ipmsg.FILEATTACHOPT else b""
        text, used = self._read_text(peer, text_bytes, bool(command & ipmsg.UTF8OPT))
        outputs.append(
            MessageIn(
                peer.info(),
                text,
                used,
                False,
                bool(command & ipmsg.BROADCASTOPT),
                number,
                attachments,
                transient,
            )
        )
        if ack:  # after the MessageIn: the shell shows the message, then acknowledges it
            outputs.append(Transmit(self._ack(ipmsg.RECVMSG, number), addr))
        if command & ipmsg.SECRETOPT and not no_reply:
            # Shown at once, so it counts as opened.
            outputs.append(Transmit(self._ack(ipmsg.READMSG, number), addr))
        return outputs

    def _on_ack(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        number = ipmsg.ack_number(packet.extra)
        if number is None:
            return []
        msg_id = self._by_number.get(number)
        pending = self._pending.get(msg_id) if msg_id is not None else None
        if pending is None or pending.addr[0] != addr[0]:
            return []  # a late duplicate ack, or one from elsewhere
        self._forget(pending)
        peer = self._peers.get(pending.addr)
        info = peer.info() if peer is not None else _Peer(pending.addr).info()
        return [Delivered(pending.msg_id, info, pending.tries)]

    def _forget(self, pending: _Pending) -> None:
        del self._pending[pending.msg_id]
        self._by_number.pop(pending.packet_no, None)

    def _on_release(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        number = ipmsg.ack_number(packet.extra)
        if number is None:
            return []
        return [Released(self._info(addr), number)]

    def request_packet(self, command: int, extra: bytes) -> bytes:
        """A packet of ours with ``command`` and ``extra`` (a file request, RELEASEFILES)."""
        return self._packet(command, extra, utf8=False)[1]

    def _on_getinfo(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        _no, data = self._packet(ipmsg.SENDINFO, self.identity.version.encode(), utf8=False)
        return [Transmit(data, addr)]

    def _on_quietly(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        return []

    # --- helpers -----------------------------------------------------------------------------

    def _key(self, ip: str) -> str:
        """``host_key(ip)``, remembered for the IPv6 addresses heard lately."""
        if ":" not in ip:
            return ip
        key = self._keys.get(ip)
        if key is None:
            if len(self._keys) >= HOST_KEYS_KEPT:
                self._keys.clear()
            key = self._keys[ip] = host_key(ip)
        return key

    def _admit(self, host: str, now: float) -> list[Output] | None:
        """Take a token from ``host``'s bucket, and from the shared one while ``host`` is not
        settled; None when admitted, else what the drop causes."""
        bucket = self._buckets.get(host)
        if bucket is None:
            if not self._take_shared(now):
                return self._dropped(self._shared, "", now)  # not added: see the docstring
            bucket = _Bucket(self.burst - 1.0, now, now + SETTLE)
            self._buckets[host] = bucket
            if len(self._buckets) > HOST_LIMIT:
                self._buckets.popitem(last=False)
            return None
        self._buckets.move_to_end(host)
        tokens = bucket.tokens + (now - bucket.stamp) * self.rate
        bucket.tokens = tokens if tokens < self.burst else self.burst
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return self._dropped(bucket, host, now)
        if now < bucket.settled and not self._take_shared(now):
            return self._dropped(self._shared, "", now)
        bucket.tokens -= 1.0
        return None

    def _take_shared(self, now: float) -> bool:
        """Take a token from the newcomers' shared bucket; False when it is empty."""
        shared = self._shared
        burst = NEWCOMER_SHARE * self.burst
        tokens = shared.tokens + (now - shared.stamp) * NEWCOMER_SHARE * self.rate
        shared.tokens = tokens if tokens < burst else burst
        shared.stamp = now
        if shared.tokens < 1.0:
            return False
        shared.tokens -= 1.0
        return True

    def _dropped(self, bucket: _Bucket, host: str, now: float) -> list[Output]:
        """Count a datagram over ``bucket``'s limit; report the count now and then."""
        bucket.dropped += 1
        self.dropped += 1
        if now - bucket.reported < FLOOD_REPORT_INTERVAL:
            return []
        flooded = Flooded(host, bucket.dropped)
        bucket.dropped = 0
        bucket.reported = now
        return [flooded]

    def _plain(self, data: bytes, addr: Addr) -> list[Output]:
        peer = self._peers.get(addr)
        outputs: list[Output] = []
        if peer is None:
            peer = self._touch(addr)
            peer.plain = True
            outputs.append(PeerChanged(peer.info(), "joined"))
        else:
            self._heard(addr)
        forced = self.identity.encoding if self.identity.encoding != AUTO else None
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
        outputs.append(MessageIn(peer.info(), text, decoded.encoding, True))
        return outputs

    def _read_text(self, peer: _Peer, data: bytes, flagged: bool) -> tuple[str, str]:
        if flagged:
            peer.utf8 = True
            try:
                return data.decode(UTF8), UTF8
            except UnicodeDecodeError:
                pass
        forced = self.identity.encoding if self.identity.encoding != AUTO else None
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

    def _learn(self, packet: ipmsg.Packet, addr: Addr) -> tuple[_Peer, str]:
        """Update the peer table from an entry packet; returns the peer and what changed."""
        known = self._peers.get(addr)
        is_new = known is None or not known.version  # added by us, never heard from
        peer = self._touch(addr)
        before = (peer.nick, peer.group)
        entry = ipmsg.parse_entry(packet.extra)
        self._learn_header(peer, packet)
        if packet.has(ipmsg.CAPUTF8OPT) or entry.encoding_hint in ("utf-8", "utf8"):
            peer.utf8 = True
        elif entry.encoding_hint:
            hint = entry.encoding_hint
            peer.encoding = GB18030 if hint in ("gbk", "gb2312", "gb18030") else hint
        elif packet.version.startswith("1_lbt") and peer.encoding is None:
            peer.encoding = GB18030  # FeiQ writes GBK and does not announce it
        names = entry.utf8_names
        peer.nick = names.get("NN") or self._name(peer, entry.nick) or peer.user
        peer.group = names.get("GN") or self._name(peer, entry.group)
        if "UN" in names:
            peer.user = names["UN"]
        if "HN" in names:
            peer.host = names["HN"]
        if is_new:
            return peer, "joined"
        return peer, ("updated" if (peer.nick, peer.group) != before else "")

    def _learn_sender(self, packet: ipmsg.Packet, addr: Addr) -> tuple[_Peer, str]:
        known = self._peers.get(addr)
        is_new = known is None or not known.version
        peer = self._touch(addr)
        if is_new or not peer.user:
            self._learn_header(peer, packet)
        if packet.has(ipmsg.UTF8OPT) or packet.has(ipmsg.CAPUTF8OPT):
            peer.utf8 = True
        peer.plain = False
        return peer, ("joined" if is_new else "")

    def _transient(self, packet: ipmsg.Packet, addr: Addr) -> _Peer:
        peer = _Peer(addr)
        self._learn_header(peer, packet)
        return peer

    def _learn_header(self, peer: _Peer, packet: ipmsg.Packet) -> None:
        utf8 = packet.has(ipmsg.UTF8OPT)
        peer.user = self._name(peer, packet.user, utf8=utf8)
        peer.host = self._name(peer, packet.host, utf8=utf8)
        peer.version = packet.version
        peer.plain = False

    def _name(self, peer: _Peer, raw: bytes, *, utf8: bool = False) -> str:
        if utf8:
            return raw.decode(UTF8, "replace")
        chain = [peer.encoding] if peer.encoding else []
        for codec in [*chain, *AUTO_CHAIN]:
            try:
                return raw.decode(codec)
            except UnicodeDecodeError:
                continue
        return raw.decode(UTF8, "replace")

    def _touch(self, addr: Addr) -> _Peer:
        """The peer at ``addr``, added if new (within the per-host and overall caps)."""
        peer = self._peers.get(addr)
        if peer is None:
            peer = _Peer(addr)
            self._peers[addr] = peer
            host = self._key(addr[0])
            ports = self._hosts.get(host)
            if ports is None:
                ports = self._hosts[host] = OrderedDict()
            ports[addr] = None
            if len(ports) > PEERS_PER_HOST:  # a host's new port pushes out its own oldest
                self._forget_peer(next(iter(ports)))
            if len(self._peers) > PEER_LIMIT:
                self._forget_peer(next(iter(self._peers)))
        else:
            self._heard(addr)
        return peer

    def _heard(self, addr: Addr) -> None:
        """Mark the known peer at ``addr`` as the most recently heard (overall and of its host)."""
        self._peers.move_to_end(addr)
        self._hosts[self._key(addr[0])].move_to_end(addr)

    def _forget_peer(self, addr: Addr) -> _Peer | None:
        """Drop ``addr`` from the peer table (and from its host's entries)."""
        peer = self._peers.pop(addr, None)
        if peer is not None:
            host = self._key(addr[0])
            ports = self._hosts[host]
            del ports[addr]
            if not ports:
                del self._hosts[host]
        return peer

    def _info(self, addr: Addr) -> PeerInfo:
        peer = self._peers.get(addr)
        return peer.info() if peer else _Peer(addr).info()

    def _wire_encoding(self, peer: _Peer) -> tuple[str, int]:
        """The charset for a message to an IP Messenger peer, and UTF8OPT when UTF-8."""
        if peer.utf8:
            return UTF8, ipmsg.UTF8OPT
        forced = self.identity.encoding if self.identity.encoding != AUTO else None
        encoding = peer.encoding or forced or UTF8
        return encoding, (ipmsg.UTF8OPT if encoding == UTF8 else 0)

    def _plain_encoding(self, peer: _Peer) -> str:
        forced = self.identity.encoding if self.identity.encoding != AUTO else None
        return peer.encoding or forced or UTF8

    def _legacy(self) -> str:
        return self.identity.encoding if self.identity.encoding != AUTO else GB18030

    def _entry(self) -> bytes:
        ident = self.identity
        return ipmsg.entry_extra(
            nick=ident.nick,
            group=ident.group,
            user=ident.user,
            host=ident.host,
            legacy=self._legacy(),
        )

    def _entry_options(self) -> int:
        """Options of our entry packets: what we can do, and NOADDLISTOPT for a one-shot."""
        return ipmsg.CAPUTF8OPT | self._attach_cap() | self._unlisted

    def _attach_cap(self) -> int:
        return ipmsg.FILEATTACHOPT if self.identity.attachments else 0

    def _head(self, utf8: bool) -> tuple[bytes, bytes]:
        """Our header's fixed parts (names in UTF-8 or in the legacy charset), made once."""
        if self._heads_of is not self.identity:
            ident, legacy = self.identity, self._legacy()
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

    def _next_no(self) -> int:
        """The next packet number: one more than the last, wrapping to 1 at the limit."""
        number = self._packet_no + 1
        if number >= PACKET_NO_LIMIT:
            number = 1
        self._packet_no = number
        return number

    def _packet(self, command: int, extra: bytes, *, utf8: bool) -> tuple[int, bytes]:
        number = self._next_no()
        data = ipmsg.packet_bytes(self._head(utf8), number, command, extra)
        self._own[number] = hash(data)
        if len(self._own) > RECENT_LIMIT:
            self._own.popitem(last=False)
        return number, data

    def _ack(self, command: int, number: int) -> bytes:
        """RECVMSG or READMSG for packet ``number``. It never comes back to us (we never
        receive our own SENDMSG), so unlike ``_packet`` it is not remembered as ours."""
        head = self._head(False)
        return b"%s%d%s%d:%d\0" % (head[0], self._next_no(), head[1], command, number)

    def _to_all(self, targets: list[Addr], command: int, extra: bytes) -> list[Output]:
        _no, data = self._packet(command, extra, utf8=False)
        return [Transmit(data, addr) for addr in targets]


_HANDLERS = {
    ipmsg.BR_ENTRY: Messenger._on_entry,
    ipmsg.ANSENTRY: Messenger._on_entry,
    ipmsg.BR_ABSENCE: Messenger._on_entry,
    ipmsg.BR_EXIT: Messenger._on_exit,
    ipmsg.SENDMSG: Messenger._on_message,
    ipmsg.RECVMSG: Messenger._on_ack,
    ipmsg.GETINFO: Messenger._on_getinfo,
    ipmsg.RELEASEFILES: Messenger._on_release,
    ipmsg.NOOPERATION: Messenger._on_quietly,
    ipmsg.READMSG: Messenger._on_quietly,
    ipmsg.ANSREADMSG: Messenger._on_quietly,
    ipmsg.DELMSG: Messenger._on_quietly,
    ipmsg.SENDINFO: Messenger._on_quietly,
}
