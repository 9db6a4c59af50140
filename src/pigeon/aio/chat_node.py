"""One IP Messenger endpoint on a UDP socket: the ``Messenger`` driven by datagrams and the clock.

The node owns the socket, a receive task and a timer task; everything the protocol decides
comes from ``proto.chat.messenger``. Events go to the ``show`` callback the caller passes in.
The socket is dual-stack when the host has IPv6 (``::``, IPv4 mapped in), so IPv4 and IPv6
peers share one port; IPv4 ones are keyed and shown as plain IPv4 (see ``_DatagramPump``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from pigeon import __version__
from pigeon.aio.accept import AcceptPressure
from pigeon.aio.attachments import AttachmentServer, Offer, OfferBook
from pigeon.aio.interfaces import list_interfaces
from pigeon.aio.oserrors import bind_error, connect_error
from pigeon.aio.sockets import has_ipv6, peer_host, resolve
from pigeon.config import ChatConfig
from pigeon.errors import PigeonError
from pigeon.events import Notice, TransferNote
from pigeon.proto.address import format_endpoint
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.delivery import packet_seed
from pigeon.proto.chat.events import Addr, ChatEvent, MessageOut, Output, Transmit
from pigeon.proto.chat.messenger import Messenger
from pigeon.proto.chat.outgoing import Identity

BROADCAST_ALL = "255.255.255.255"
VERSION = f"1_pigeon_{__version__}"
"""FeiQ lists only peers whose version starts with ``1_``."""

Show = Callable[[ChatEvent | Notice | TransferNote], None]


def identity_for(cfg: ChatConfig, *, attachments: bool = False) -> Identity:
    """The wire identity a config describes."""
    return Identity(
        user=cfg.user,
        host=cfg.host,
        nick=cfg.nick,
        group=cfg.group,
        version=VERSION,
        encoding=cfg.encoding,
        attachments=attachments,
    )


FAMILY_NAMES = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6"}


async def resolve_peer(host: str, port: int, *, families: tuple[socket.AddressFamily, ...]) -> Addr:
    """The first address of ``host`` in one of ``families`` (IPv4 first when a name has both:
    IP Messenger peers listen on IPv4, some on IPv4 only).

    Raises:
        UnknownHost: no such name. PigeonError: no address the chat socket can reach.
    """
    for found in await resolve(host, port, socket.SOCK_DGRAM):
        if found.family in families:
            return (peer_host(found.sockaddr), int(found.sockaddr[1]))
    wanted = " or ".join(FAMILY_NAMES[f] for f in families)
    raise PigeonError(
        f"chat peer {host} has no {wanted} address (the chat socket is {wanted} only: see --bind)"
    )


def socket_families(sock: socket.socket) -> tuple[socket.AddressFamily, ...]:
    """The address families ``sock`` can send to: both for a dual-stack socket."""
    if sock.family != socket.AF_INET6:
        return (socket.AF_INET,)
    if sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY):
        return (socket.AF_INET6,)
    if str(sock.getsockname()[0]) != "::":
        return (socket.AF_INET6,)  # bound to one IPv6 address: IPv4 cannot reach it
    return (socket.AF_INET, socket.AF_INET6)


def _local(bind: str) -> tuple[socket.AddressFamily, str]:
    """The family and address to bind: ``::`` with IPv4 mapped in (dual stack) when ``bind``
    is empty and IPv6 is there, so IPv6 peers are reached on the same port; else IPv4."""
    if bind:
        return (socket.AF_INET6 if ":" in bind else socket.AF_INET), bind
    if has_ipv6():
        return socket.AF_INET6, "::"
    return socket.AF_INET, "0.0.0.0"  # noqa: S104 - a LAN messenger listens on the LAN


def _bind(kind: socket.SocketKind, bind: str, port: int) -> socket.socket:
    """A socket of ``kind`` bound to ``bind``:``port`` (see ``_local``); OSError as bind."""
    family, host = _local(bind)
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6 and not bind:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if kind == socket.SOCK_DGRAM:
            # SO_BROADCAST is a socket-level option: it lets a dual-stack socket broadcast
            # to ::ffff:255.255.255.255 as well.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _chat_socket(bind: str, port: int, *, fallback: bool) -> socket.socket:
    """The UDP chat socket on ``bind``:``port``, allowed to broadcast."""
    try:
        try:
            sock = _bind(socket.SOCK_DGRAM, bind, port)
        except OSError as exc:
            if not (fallback and exc.errno == errno.EADDRINUSE):
                raise
            sock = _bind(socket.SOCK_DGRAM, bind, 0)
    except OSError as exc:
        raise bind_error(exc, proto="udp", host=bind, port=port) from exc
    sock.setblocking(False)
    return sock


def _pair(
    bind: str, port: int, *, fallback: bool, tcp: bool
) -> tuple[socket.socket, socket.socket | None]:
    """The UDP chat socket and, with ``tcp``, a listening TCP socket on the same port number."""
    for _ in range(20):
        udp = _chat_socket(bind, port, fallback=fallback)
        if not tcp:
            return udp, None
        actual = int(udp.getsockname()[1])
        try:
            stream = _bind(socket.SOCK_STREAM, bind, actual)
            try:
                stream.listen(128)
            except OSError:
                stream.close()
                raise
        except OSError as exc:
            udp.close()
            if fallback and exc.errno == errno.EADDRINUSE:
                port = 0  # that number is taken for TCP: let the kernel pick another pair
                continue
            raise bind_error(exc, proto="tcp", host=bind, port=actual) from exc
        stream.setblocking(False)
        return udp, stream
    raise bind_error(OSError(errno.EADDRINUSE, "in use"), proto="tcp", host=bind, port=port)


def broadcast_targets(port: int) -> list[Addr]:
    """255.255.255.255 and each up, non-loopback interface's IPv4 broadcast address."""
    found: list[Addr] = [(BROADCAST_ALL, port)]
    for iface in list_interfaces():
        if not iface.up:
            continue
        for addr in iface.addresses:
            if addr.family == "ipv4" and addr.broadcast and not addr.is_loopback:
                found.append((addr.broadcast, port))
    return list(dict.fromkeys(found))


READ_BATCH = 64
"""Datagrams read per wakeup at most (then other work gets its turn)."""
SEND_QUEUE = 4096
"""Datagrams held while the kernel's send buffer is full; beyond, new ones are dropped."""


class _DatagramPump:
    """The chat socket on the event loop, without a transport in between.

    Each wakeup drains up to ``READ_BATCH`` datagrams, so a burst costs one turn of the loop
    instead of one per datagram (asyncio's datagram transport reads one). Sends go straight to
    the kernel and are queued only while its buffer is full.

    On a dual-stack socket IPv4 peers arrive as ``::ffff:a.b.c.d``: they are keyed and shown
    as the plain IPv4 address (as on an IPv4 socket), and mapped back when sent to.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes, Addr, float], None],
        on_error: Callable[[OSError, Addr | None], None],
    ) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.closed = False
        self.dropped = 0
        self.mapped = socket.AF_INET in socket_families(sock) and sock.family == socket.AF_INET6
        self._queue: deque[tuple[bytes, Addr]] = deque()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom, now = self.sock.recvfrom, self.loop.time()
        for _ in range(READ_BATCH):
            try:
                data, addr = recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error for an earlier send
                self.on_error(exc, None)
                continue
            if len(addr) != 2:  # IPv6: (host, port, flowinfo, scope_id)
                addr = (peer_host(addr), addr[1])
            self.on_datagram(data, addr, now)
            if self.closed:
                return

    def sendto(self, data: bytes, addr: Addr) -> None:
        """Send now, or queue while the kernel's buffer is full. Raises OSError as sendto."""
        if self.closed:
            return
        if not self._queue:
            try:
                self.sock.sendto(data, self._wire(addr))
                return
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.sock.fileno(), self._writable)
        if len(self._queue) >= SEND_QUEUE:
            self.dropped += 1
            return
        self._queue.append((data, addr))

    def _wire(self, addr: Addr) -> Addr:
        """``addr`` as the socket takes it: an IPv4 address mapped on a dual-stack socket."""
        if self.mapped and ":" not in addr[0]:
            return ("::ffff:" + addr[0], addr[1])
        return addr

    def _writable(self) -> None:
        while self._queue:
            data, addr = self._queue[0]
            try:
                self.sock.sendto(data, self._wire(addr))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.on_error(exc, addr)
            self._queue.popleft()
        self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        """Stop reading and writing; close the socket."""
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


class ChatNode:
    """A bound chat socket plus the protocol state; use ``async with ChatNode(...)``."""

    def __init__(
        self, cfg: ChatConfig, show: Show, *, attachments: bool = False, transient: bool = False
    ) -> None:
        """``transient``: a one-shot (``send``, ``peers``) that asks and tells without being
        listed by the others (see ``Messenger``)."""
        self.cfg = cfg
        self.show = show
        self.messenger = Messenger(
            identity_for(cfg, attachments=attachments),
            # Clock milliseconds and random bits: a process started after this one on the
            # same port (a loop of `pigeon send`) never reuses our numbers (see packet_seed).
            first_packet_no=packet_seed(time.time(), int.from_bytes(os.urandom(4))),
            retry_interval=cfg.retry_interval,
            tries=cfg.tries,
            rate=cfg.rate,
            burst=cfg.rate * 2,
            transient=transient,
        )
        self.families: tuple[socket.AddressFamily, ...] = (socket.AF_INET,)
        """What the chat socket reaches: IPv4 and IPv6 on a dual-stack socket."""
        self.broadcasts: list[Addr] = []
        self.explicit: list[Addr] = []
        self._pump: _DatagramPump | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self._failing: dict[Addr | None, str] = {}
        """Destinations whose last send failed, with the line that said so (None: an error
        the kernel reported later without naming the destination)."""
        self._sleeping_until: float | None = None
        self.port = 0
        self.attachments = attachments
        self.book = OfferBook()
        self.server = AttachmentServer(self.book, self.show, encoding="utf-8")
        self.server.name_of = self._name_of
        self._tcp: asyncio.Server | None = None
        self._transfers: set[asyncio.Task[None]] = set()
        self._now: Callable[[], float] = time.monotonic  # the loop's clock once entered
        self._waiting = self.messenger.waiting

    async def __aenter__(self) -> ChatNode:
        sock, stream = _pair(
            self.cfg.bind, self.cfg.port, fallback=self.cfg.port_fallback, tcp=self.attachments
        )
        self.port = int(sock.getsockname()[1])
        self.families = socket_families(sock)
        self.messenger.own_port = self.port
        self._pump = _DatagramPump(sock, self.on_datagram, self._send_failed)
        self._now = self._pump.loop.time
        if stream is not None:
            # Out of file descriptors, asyncio logs a traceback per failed accept: one line
            # instead, as pigeon serve does. Left installed after the node closes, since
            # asyncio's accept retries may fire then (and the handler passes on the rest).
            self._pump.loop.set_exception_handler(AcceptPressure(self.show))
            self._tcp = await asyncio.start_server(self.server.on_connect, sock=stream)
        if self.cfg.discovery and socket.AF_INET in self.families:
            # IP Messenger's port, whatever our own: --port is where we listen, and the
            # others listen on 2425 (a peer elsewhere is given with its port).
            self.broadcasts = broadcast_targets(ipmsg.DEFAULT_PORT)
        for host, port in self.cfg.peers:
            self.explicit.append(await resolve_peer(host, port, families=self.families))
        for host, port in self.cfg.plain_peers:
            addr = await resolve_peer(host, port, families=self.families)
            self.messenger.add_peer(addr, plain=True)
        self._tasks = [asyncio.create_task(self._clock(), name="chat-clock")]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pump is not None:
            self._pump.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._transfers):
                task.cancel()

    def _name_of(self, addr: Addr) -> str:
        """The peer's name as the chat shows it (its address when it never said one)."""
        peer = self.messenger.peer(addr)
        return peer.name if peer is not None else format_endpoint(*addr)

    @property
    def dropped(self) -> int:
        """Datagrams dropped for being over a peer's rate limit."""
        return self.messenger.dropped

    def announce_targets(self) -> list[Addr]:
        """Where entry and exit packets go: broadcast addresses (unless off) and given peers."""
        return list(dict.fromkeys([*self.broadcasts, *self.explicit]))

    async def enter(self, targets: list[Addr] | None = None) -> None:
        """Announce ourselves (BR_ENTRY) to ``targets`` (None: the announce targets)."""
        where = self.announce_targets() if targets is None else targets
        await self.perform(self.messenger.enter(where))

    async def leave(self, targets: list[Addr] | None = None) -> None:
        """Say goodbye (BR_EXIT) to ``targets`` (None: the announce targets) and every known
        peer."""
        where = self.announce_targets() if targets is None else targets
        await self.perform(self.messenger.leave(where))

    async def send_text(
        self, addr: Addr, text: str, *, broadcast: bool = False, noaddlist: bool = False
    ) -> int:
        """Send ``text`` to ``addr``; returns the local message id."""
        return self.post_text(addr, text, broadcast=broadcast, noaddlist=noaddlist)

    def post_text(
        self, addr: Addr, text: str, *, broadcast: bool = False, noaddlist: bool = False
    ) -> int:
        """``send_text`` for callers without a coroutine (``show`` callbacks may call it)."""
        msg_id, outputs = self.messenger.send_text(
            addr, text, self._now(), broadcast=broadcast, noaddlist=noaddlist
        )
        self._apply(outputs)
        return msg_id

    async def offer(self, addr: Addr, text: str, offer: Offer) -> None:
        """Offer ``offer``'s files to ``addr`` (SENDMSG with FILEATTACHOPT and the list)."""
        peer = self.messenger.peer(addr)
        encoding = "utf-8" if peer is None or peer.encoding in ("utf-8", "unknown") else "gb18030"
        listing = files.encode_file_list([f.entry for f in offer.files.values()], encoding)
        _msg_id, outputs = self.messenger.send_text(
            addr,
            text,
            asyncio.get_running_loop().time(),
            extra_options=ipmsg.FILEATTACHOPT,
            attachments=listing,
        )
        for item in outputs:
            if isinstance(item, MessageOut) and item.packet_no is not None:
                self.book.register(offer, item.packet_no)
        await self.perform(outputs)

    async def release(self, addr: Addr, packet_no: int) -> None:
        """Tell ``addr`` an offer is off (RELEASEFILES)."""
        data = self.messenger.request_packet(ipmsg.RELEASEFILES, str(packet_no).encode())
        await self.perform([Transmit(data, addr)])

    def start_transfer(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a download in the background; it ends with the node."""
        task = asyncio.create_task(work)
        self._transfers.add(task)
        task.add_done_callback(self._transfers.discard)

    async def transfers_done(self) -> None:
        """Wait for the downloads in progress."""
        while self._transfers:
            await asyncio.gather(*self._transfers, return_exceptions=True)

    async def broadcast_text(self, text: str) -> None:
        """Send ``text`` to everyone (``/all``): each known peer and the broadcast addresses,
        as one message (one packet number: shown once by a peer reached twice), never acked."""
        peers = [p.addr for p in self.messenger.peers()]
        _msg_id, outputs = self.messenger.broadcast_text(text, peers, self.broadcasts)
        self._apply(outputs)

    async def settled(self, within: float | None = None) -> bool:
        """Wait until no message awaits an acknowledgement; False if ``within`` s passed first."""
        try:
            await asyncio.wait_for(self._settled.wait(), within)
        except TimeoutError:
            return False
        return True

    async def perform(self, outputs: list[Output]) -> None:
        """Transmit what the protocol asked for and show what happened."""
        self._apply(outputs)

    def _apply(self, outputs: list[Output]) -> None:
        pump = self._pump
        for item in outputs:
            if isinstance(item, Transmit):
                assert pump is not None
                try:
                    pump.sendto(item.data, item.addr)
                except OSError as exc:
                    self._send_failed(exc, item.addr)
                else:
                    if self._failing:
                        self._sent(item.addr)
            else:
                self.show(item)
        if self._waiting:
            if self._settled.is_set():
                self._settled.clear()
            if self._sleeping_until is None:
                # A new message's deadline is never earlier than one already waited for,
                # so only an idle clock needs waking.
                self._wake.set()
        elif not self._settled.is_set():
            self._settled.set()

    def _send_failed(self, exc: OSError, addr: Addr | None) -> None:
        """A send failed (or the kernel said so later): one line per destination, and again
        only when what goes wrong there changes. A LAN without a default route refuses every
        send to 255.255.255.255: said once, not on every broadcast."""
        peer = format_endpoint(*addr) if addr is not None else "peer"
        text = f"chat: {connect_error(exc, proto='udp', peer=peer)}"
        if self._failing.get(addr) != text:
            self._failing[addr] = text
            self.show(Notice(text))

    def _sent(self, addr: Addr) -> None:
        """A send to ``addr`` went out after failing before: said once, too."""
        if self._failing.pop(addr, None) is not None:
            self.show(Notice(f"chat: udp {format_endpoint(*addr)} can be sent to again"))

    def on_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """One datagram in: handled at once, in the transport's callback (no queue, no task
        switch per message; the kernel's socket buffer is the queue, the rate limit the guard)."""
        self._apply(self.messenger.receive(data, addr, now))

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.messenger.next_deadline()
            self._wake.clear()
            self._sleeping_until = deadline
            if deadline is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - loop.time()))
            self._sleeping_until = None
            await self.perform(self.messenger.tick(loop.time()))
