"""The IP Messenger state machine, driven by explicit time: what one chat endpoint does.

Feed it datagrams (``receive``), the user's actions (``send_text``, ``enter``, ``leave``,
``rename``) and the clock (``tick``); each call returns what to transmit and what happened.
No sockets, no sleeps: the shell owns the clock and calls ``tick`` at ``next_deadline()``.

It is cut along its rules (see reference ipmsg.md), each stated where it is kept: the rate
limit per host in ``rate``, the peer table in ``peers``, what peers' packets say and which
charset they read in ``learning``, retransmission, acks and exactly-once in ``delivery``,
packet numbers and our own echo in ``outgoing``. Kept here:
- SENDMSG with SENDCHECKOPT is acknowledged with RECVMSG, again for every duplicate (the
  first ack may have been lost); BROADCASTOPT and AUTORETOPT messages never are. The ack
  follows the ``MessageIn`` in the outputs, so the shell shows a message before it says
  "received": an ack means shown, now or earlier.
- A datagram over its host's rate limit is dropped before it is read; a host the limit
  refuses at its first datagram is not added to the peer table.
- A datagram that is not an IP Messenger packet comes from a *plain* peer (the tutorial's
  chat, ``nc -u``) and is answered in plain text.
- A one-shot (``pigeon send``, ``pigeon peers``: ``transient``) marks every packet
  NOADDLISTOPT, its BR_ENTRY and BR_EXIT too: it asks who is there without joining. Such an
  entry is answered (ANSENTRY) but not listed, so other chats show no "joined"/"left" for a
  command that lived a second (IP Messenger defines the flag for SENDMSG; clients that ignore
  it on entries list the one-shot until its BR_EXIT, as before). The names such an entry
  carries are kept (for the last ``ONESHOTS_KEPT`` one-shots) until its BR_EXIT, so that the
  message that follows shows its nick rather than its login name.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

from pigeon.errors import UsageError
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.delivery import RETRY_INTERVAL, TRIES, Outbox, SeenMessages
from pigeon.proto.chat.events import (
    EVERYONE,
    Addr,
    MessageIn,
    MessageOut,
    Output,
    PeerChange,
    PeerChanged,
    PeerInfo,
    Released,
    Transmit,
)
from pigeon.proto.chat.learning import (
    learn_entry,
    learn_header,
    plain_encoding,
    read_plain,
    read_text,
    wire_encoding,
)
from pigeon.proto.chat.outgoing import Identity, OurPackets
from pigeon.proto.chat.peers import UTF8, KnownPeers, Peer
from pigeon.proto.chat.rate import RATE_BURST, RATE_PER_SECOND, RateLimit
from pigeon.proto.text import encode_text

ONESHOTS_KEPT = 256
"""One-shots whose entry names are kept for the message that follows (a bound, not a list)."""


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
        first_packet_no: seed for packet numbers, ``delivery.packet_seed(...)`` (IP Messenger
            uses the Unix time); the first packet is numbered one more.
        retry_interval: seconds between retransmissions.
        tries: transmissions before a message is reported not delivered.
        rate, burst: per-host token bucket (datagrams per second, bucket size); see ``rate``.
        transient: a one-shot: every packet says NOADDLISTOPT (do not list me).
        """
        self.transient = transient
        self._ours = OurPackets(identity, first_packet_no=first_packet_no, transient=transient)
        self._peers = KnownPeers()
        self._outbox = Outbox(self._peers.info, retry_interval=retry_interval, tries=tries)
        self._seen = SeenMessages()
        self._oneshots: OrderedDict[Addr, tuple[bytes, bytes, Peer]] = OrderedDict()
        """Who the one-shots that entered lately are, by address: the user and host their
        entry's header named, and what it said (not listed: see the module's text)."""
        self._limit = RateLimit(rate, burst)
        self._msg_id = 0
        self.ignored = 0
        """Packets of commands we do not handle (FeiQ typing, encryption, ...)."""
        self.own_port: int | None = None
        """Our bound port: a broadcast of ours comes back from it (set by the shell)."""

    @property
    def identity(self) -> Identity:
        """Who we are on the wire; assigning it takes effect from the next packet."""
        return self._ours.identity

    @identity.setter
    def identity(self, identity: Identity) -> None:
        self._ours.identity = identity

    @property
    def dropped(self) -> int:
        """Datagrams dropped for being over a host's rate limit."""
        return self._limit.dropped

    # --- queries ---------------------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        """Known peers, in the order they were last heard from (oldest first)."""
        return [peer.info() for peer in self._peers]

    def peer(self, addr: Addr) -> PeerInfo | None:
        """The peer at ``addr``, if known."""
        found = self._peers.get(addr)
        return found.info() if found else None

    def find(self, name: str) -> list[PeerInfo]:
        """Peers whose nick, user, host or ``ip:port`` is ``name`` (case-insensitive)."""
        return self._peers.find(name)

    @property
    def pending(self) -> int:
        """Messages still waiting for an acknowledgement."""
        return len(self._outbox.waiting)

    @property
    def waiting(self) -> Mapping[int, object]:
        """The messages awaiting an acknowledgement, by message id (a live, read-only view:
        fetch it once, test its truth as often as needed)."""
        return self._outbox.waiting

    def next_deadline(self) -> float | None:
        """When ``tick`` must next be called, or None when nothing is waiting."""
        return self._outbox.next_deadline()

    # --- actions ---------------------------------------------------------------------------

    def enter(self, targets: list[Addr], *, absence: bool = False) -> list[Output]:
        """BR_ENTRY (or BR_ABSENCE for a name change) to each of ``targets``."""
        mode = ipmsg.BR_ABSENCE if absence else ipmsg.BR_ENTRY
        return self._to_all(targets, mode | self._ours.entry_options(), self._ours.entry())

    def leave(self, targets: list[Addr]) -> list[Output]:
        """BR_EXIT to each of ``targets`` (and to every known IP Messenger peer)."""
        command = ipmsg.BR_EXIT | ipmsg.CAPUTF8OPT | self._ours.unlisted
        return self._to_all(self._with_known(targets), command, self._ours.entry())

    def rename(self, nick: str, targets: list[Addr]) -> list[Output]:
        """Take a new nick and tell ``targets`` and every known peer (BR_ABSENCE)."""
        ident = self.identity
        self.identity = Identity(
            user=ident.user,
            host=ident.host,
            nick=nick,
            group=ident.group,
            version=ident.version,
            encoding=ident.encoding,
            attachments=ident.attachments,
        )
        return self.enter(self._with_known(targets), absence=True)

    def add_peer(self, addr: Addr, *, plain: bool = False) -> PeerInfo:
        """Remember ``addr`` as a peer we intend to talk to (before it has spoken)."""
        peer = self._peers.touch(addr)
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
        peer = self._peers.get(addr) or self._peers.touch(addr)
        self._msg_id += 1
        msg_id = self._msg_id
        if peer.plain:
            body = encode_text(text + peer.line_end, plain_encoding(peer, self._ours.forced))
            ipmsg.check_text_size(body)
            return msg_id, [Transmit(body, addr), MessageOut(msg_id, peer.info(), text, False)]
        encoding, flag = wire_encoding(peer, self._ours.forced)
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
            | (ipmsg.NOADDLISTOPT if noaddlist else self._ours.unlisted)
        )
        if attachments:
            body += b"\0" + attachments
        packet_no, data = self._ours.packet(ipmsg.SENDMSG | options, body, utf8=bool(flag))
        if acked:
            self._outbox.add(msg_id, packet_no, data, addr, now)
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
        number = self._ours.next_no()
        command = ipmsg.SENDMSG | ipmsg.BROADCASTOPT | self._ours.unlisted
        forced = self._ours.forced
        outputs: list[Output] = []
        made: dict[tuple[str, bool, str], bytes] = {}  # (charset, plain, line end) -> datagram
        for addr in peers:
            peer = self._peers.get(addr) or Peer(addr)
            encoding = (
                plain_encoding(peer, forced) if peer.plain else wire_encoding(peer, forced)[0]
            )
            key = (encoding, peer.plain, peer.line_end)
            if key not in made:
                made[key] = self._copy(text, number, command, encoding, peer)
            outputs.append(Transmit(made[key], addr))
        if broadcasts:
            stranger = Peer(broadcasts[0])
            encoding = wire_encoding(stranger, forced)[0]
            data = self._copy(text, number, command, encoding, stranger)
            self._ours.remember(number, data)  # it comes back to us: recognised as ours
            outputs += [Transmit(data, addr) for addr in broadcasts]
        self._msg_id += 1
        outputs.append(MessageOut(self._msg_id, EVERYONE, text, False, number, broadcast=True))
        return self._msg_id, outputs

    def _copy(self, text: str, number: int, command: int, encoding: str, peer: Peer) -> bytes:
        """One copy of an ``/all`` message: bare text for a plain peer, else a packet."""
        if peer.plain:
            body = encode_text(text + peer.line_end, encoding)
            ipmsg.check_text_size(body)
            return body
        body = encode_text(text, encoding)
        ipmsg.check_text_size(body)
        utf8 = encoding == UTF8
        flag = ipmsg.UTF8OPT if utf8 else 0
        return ipmsg.packet_bytes(self._ours.head(utf8), number, command | flag, body)

    def request_packet(self, command: int, extra: bytes) -> bytes:
        """A packet of ours with ``command`` and ``extra`` (a file request, RELEASEFILES)."""
        return self._ours.packet(command, extra, utf8=False)[1]

    def tick(self, now: float) -> list[Output]:
        """Retransmit what is due; report messages that ran out of tries."""
        return self._outbox.tick(now)

    # --- input -----------------------------------------------------------------------------

    def receive(self, data: bytes, addr: Addr, now: float) -> list[Output]:
        """Everything one received datagram causes."""
        refused = self._limit.admit(self._peers.key(addr[0]), now)
        if refused is not None:
            return list(refused)
        packet = ipmsg.parse_packet(data)
        if packet is None:
            return self._plain(data, addr)
        if addr[1] == self.own_port and self._ours.is_own(packet.packet_no, data):
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
            if change is not None:
                outputs.append(PeerChanged(peer.info(), change))
        else:  # a one-shot: answered, never listed; its names kept for its message
            oneshot = Peer(addr)
            learn_entry(oneshot, packet)
            self._oneshots[addr] = (packet.user, packet.host, oneshot)
            self._oneshots.move_to_end(addr)
            if len(self._oneshots) > ONESHOTS_KEPT:
                self._oneshots.popitem(last=False)
        if packet.mode == ipmsg.BR_ENTRY:
            outputs.append(Transmit(self._entry_packet(ipmsg.ANSENTRY), addr))
        return outputs

    def _on_exit(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        self._oneshots.pop(addr, None)
        peer = self._peers.forget(addr)
        if peer is None:
            return []
        return [PeerChanged(peer.info(), PeerChange.LEFT)]

    def _on_message(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        # The hot path of a busy chat: option bits tested inline (every option is one bit).
        command, number = packet.command, packet.packet_no
        no_reply = command & (ipmsg.BROADCASTOPT | ipmsg.AUTORETOPT)
        ack = command & ipmsg.SENDCHECKOPT and not no_reply
        if self._seen.seen(packet, addr):
            # Shown already: ack it again (the first ack may have been lost), show nothing.
            return [Transmit(self._ours.ack(ipmsg.RECVMSG, number), addr)] if ack else []
        peer, outputs, transient = self._sender(packet, addr)
        text_bytes, rest = ipmsg.message_body(packet.extra)
        attachments = rest if command & ipmsg.FILEATTACHOPT else b""
        text, used = read_text(peer, text_bytes, bool(command & ipmsg.UTF8OPT), self._ours.forced)
        broadcast = bool(command & ipmsg.BROADCASTOPT)
        outputs.append(
            MessageIn(peer.info(), text, used, False, broadcast, number, attachments, transient)
        )
        if ack:  # after the MessageIn: the shell shows the message, then acknowledges it
            outputs.append(Transmit(self._ours.ack(ipmsg.RECVMSG, number), addr))
        if command & ipmsg.SECRETOPT and not no_reply:
            # Shown at once, so it counts as opened.
            outputs.append(Transmit(self._ours.ack(ipmsg.READMSG, number), addr))
        return outputs

    def _sender(self, packet: ipmsg.Packet, addr: Addr) -> tuple[Peer, list[Output], bool]:
        """Who sent the message ``packet``, what learning of it causes, and whether it is a
        one-shot we do not list."""
        peer = self._peers.get(addr)
        if peer is not None and peer.introduced:
            self._peers.heard(addr)
            if packet.command & (ipmsg.UTF8OPT | ipmsg.CAPUTF8OPT):
                peer.utf8 = True
            peer.plain = False
            return peer, [], False
        if peer is None and packet.has(ipmsg.NOADDLISTOPT):
            # its entry's names, if that entry came from the same user and host (another
            # process on that address later is not taken for it)
            kept = self._oneshots.get(addr)
            same = kept is not None and (kept[0], kept[1]) == (packet.user, packet.host)
            peer = kept[2] if kept is not None and same else Peer(addr)
            learn_header(peer, packet)
            return peer, [], True
        is_new = peer is None or not peer.version  # added by us, never heard from
        peer = self._peers.touch(addr)
        if is_new or not peer.user:
            learn_header(peer, packet)
        if packet.has(ipmsg.UTF8OPT) or packet.has(ipmsg.CAPUTF8OPT):
            peer.utf8 = True
        peer.plain = False
        if not is_new:
            return peer, [], False
        # Ask the newcomer who it is; its ANSENTRY fills in nick and group.
        entry = Transmit(self._entry_packet(ipmsg.BR_ENTRY), addr)
        return peer, [PeerChanged(peer.info(), PeerChange.JOINED), entry], False

    def _on_ack(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        return self._outbox.acked(packet, addr)

    def _on_release(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        number = ipmsg.ack_number(packet.extra)
        if number is None:
            return []
        return [Released(self._peers.info(addr), number)]

    def _on_getinfo(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        _no, data = self._ours.packet(ipmsg.SENDINFO, self.identity.version.encode(), utf8=False)
        return [Transmit(data, addr)]

    def _on_quietly(self, packet: ipmsg.Packet, addr: Addr) -> list[Output]:
        return []

    # --- helpers -----------------------------------------------------------------------------

    def _plain(self, data: bytes, addr: Addr) -> list[Output]:
        """A datagram that is no IP Messenger packet: a line from a plain peer."""
        peer = self._peers.get(addr)
        outputs: list[Output] = []
        if peer is None:
            peer = self._peers.touch(addr)
            peer.plain = True
            outputs.append(PeerChanged(peer.info(), PeerChange.JOINED))
        else:
            self._peers.heard(addr)
        text, encoding = read_plain(peer, data, self._ours.forced)
        outputs.append(MessageIn(peer.info(), text, encoding, True))
        return outputs

    def _learn(self, packet: ipmsg.Packet, addr: Addr) -> tuple[Peer, PeerChange | None]:
        """Update the peer table from an entry packet; returns the peer and what changed."""
        known = self._peers.get(addr)
        is_new = known is None or not known.version  # added by us, never heard from
        peer = self._peers.touch(addr)
        before = (peer.nick, peer.group)
        learn_entry(peer, packet)
        if is_new:
            return peer, PeerChange.JOINED
        return peer, (PeerChange.UPDATED if (peer.nick, peer.group) != before else None)

    def _with_known(self, targets: list[Addr]) -> list[Addr]:
        """``targets`` and every known IP Messenger peer, each once."""
        known = [p.addr for p in self._peers if not p.plain]
        return list(dict.fromkeys([*targets, *known]))

    def _entry_packet(self, mode: int) -> bytes:
        """An entry packet of ours (BR_ENTRY, ANSENTRY) with our options."""
        command = mode | self._ours.entry_options()
        return self._ours.packet(command, self._ours.entry(), utf8=False)[1]

    def _to_all(self, targets: list[Addr], command: int, extra: bytes) -> list[Output]:
        _no, data = self._ours.packet(command, extra, utf8=False)
        return [Transmit(data, addr) for addr in targets]


Handler = Callable[[Messenger, ipmsg.Packet, Addr], list[Output]]
_HANDLERS: dict[int, Handler] = {
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
