"""A UDP socket as an awaitable channel: bounded receive queue, flow-controlled sends.

Datagrams arriving faster than they are consumed are dropped and counted, never buffered
without bound; ICMP errors (port unreachable) surface as pigeon errors on the next receive.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from pigeon.aio.oserrors import connect_error
from pigeon.aio.sockets import peer_text
from pigeon.errors import PigeonError

RECV_QUEUE_LIMIT = 4096
"""Datagrams held before new ones are dropped (and counted in ``dropped``)."""

Datagram = tuple[bytes, tuple[str, int]]


class _ChannelProtocol(asyncio.DatagramProtocol):
    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[Datagram | OSError | None] = asyncio.Queue(limit)
        self.dropped = 0
        self.can_write = asyncio.Event()
        self.can_write.set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            self.dropped += 1

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            try:
                self.queue.put_nowait(exc)
            except asyncio.QueueFull:
                self.dropped += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.can_write.set()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


class DatagramChannel:
    """Send and receive datagrams on one socket; ``peer`` names the connected peer, if any."""

    def __init__(
        self,
        sock: socket.socket,
        transport: asyncio.DatagramTransport,
        protocol: _ChannelProtocol,
        peer: str,
    ) -> None:
        self._sock = sock
        self._transport = transport
        self._protocol = protocol
        self.peer = peer

    @classmethod
    async def open(
        cls, sock: socket.socket, *, peer: str = "", limit: int = RECV_QUEUE_LIMIT
    ) -> DatagramChannel:
        """Wrap an already bound or connected socket."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _ChannelProtocol(limit), sock=sock
        )
        return cls(sock, transport, protocol, peer)

    @property
    def dropped(self) -> int:
        """Datagrams dropped because the receive queue was full."""
        return self._protocol.dropped

    async def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        """Send one datagram (to the connected peer when ``addr`` is None)."""
        await self._protocol.can_write.wait()
        if self._transport.is_closing():
            raise PigeonError(f"udp {self.peer or peer_text(addr)}: socket closed")
        if not data:
            # asyncio's transport silently skips empty payloads; an empty datagram is legal.
            try:
                self._sock.send(data) if addr is None else self._sock.sendto(data, addr)
            except OSError as exc:
                raise connect_error(exc, proto="udp", peer=self.peer or peer_text(addr)) from exc
            return
        self._transport.sendto(data, addr)

    async def recv(self) -> Datagram | None:
        """The next datagram, or None once the socket is closed.

        Raises:
            ConnectionRefused and other NetworkError: an ICMP error reported by the kernel.
        """
        item = await self._protocol.queue.get()
        if isinstance(item, OSError):
            raise connect_error(item, proto="udp", peer=self.peer or "peer") from item
        return item

    def close(self) -> None:
        """Close the socket; pending receives return None."""
        self._transport.close()
