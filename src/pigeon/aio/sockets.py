"""Creating sockets: name resolution, dual-stack listening, and the addresses to show.

Every socket pigeon binds or connects is made here, so error translation and socket options
(dual-stack, SO_REUSEADDR, SO_BROADCAST) live in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import sys
import termios
from dataclasses import dataclass

from pigeon.aio.oserrors import bind_error, connect_error, resolve_error
from pigeon.errors import UnknownHost
from pigeon.proto.address import format_endpoint, unmap_ipv4

WILDCARD = ""
"""The ``--bind`` value meaning every interface, IPv6 and IPv4 alike."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """One address ``getaddrinfo`` returned."""

    family: socket.AddressFamily
    sockaddr: tuple[str, int] | tuple[str, int, int, int]

    @property
    def endpoint(self) -> str:
        """``host:port`` for messages."""
        return format_endpoint(str(self.sockaddr[0]), int(self.sockaddr[1]))


async def resolve(host: str, port: int, kind: socket.SocketKind) -> list[Resolved]:
    """Resolve ``host`` to addresses for a socket of ``kind``; IPv4 first when both exist.

    Raises:
        UnknownHost: the resolver knows no such name.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=kind)
    except socket.gaierror as exc:
        raise resolve_error(exc, host=host) from exc
    except UnicodeError as exc:  # the IDNA codec refuses empty or over-long labels
        raise UnknownHost(f"unknown host {host!r}: not a valid host name") from exc
    seen: list[Resolved] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family == socket.AF_INET6 and len(sockaddr) == 4:
            addr: tuple[str, int] | tuple[str, int, int, int] = (
                str(sockaddr[0]),
                int(sockaddr[1]),
                int(sockaddr[2]),
                int(sockaddr[3]),
            )
        elif family == socket.AF_INET:
            addr = (str(sockaddr[0]), int(sockaddr[1]))
        else:
            continue
        item = Resolved(socket.AddressFamily(family), addr)
        if item not in seen:
            seen.append(item)
    seen.sort(key=lambda r: r.family != socket.AF_INET)
    return seen


def has_ipv6() -> bool:
    """True when this host can open IPv6 sockets."""
    if not socket.has_ipv6:
        return False
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
    except OSError:
        return False
    return True


async def bound_socket(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking socket of ``kind`` bound to ``host``:``port`` (``""`` = every interface).

    The wildcard binds ``::`` with IPV6_V6ONLY off, so IPv4 and IPv6 clients both reach one
    socket; a host without IPv6 gets ``0.0.0.0``. TCP sockets are also put in listening state.

    Raises:
        AddressInUse, PortPermissionDenied, UnknownHost, NetworkError.
    """
    proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
    if host == WILDCARD:
        family = socket.AF_INET6 if has_ipv6() else socket.AF_INET
        sockaddr: tuple[str, int] = ("::" if family == socket.AF_INET6 else "0.0.0.0", port)  # noqa: S104
    else:
        found = (await resolve(host, port, kind))[0]
        family, sockaddr = found.family, (str(found.sockaddr[0]), port)
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6 and host == WILDCARD:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        if kind == socket.SOCK_STREAM:
            sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise bind_error(exc, proto=proto, host=host, port=port) from exc
    sock.setblocking(False)
    return sock


async def connected_udp_socket(target: Resolved) -> socket.socket:
    """A UDP socket connected to ``target``, so ICMP errors (port unreachable) are reported.

    Raises:
        NetworkUnreachable, NetworkError.
    """
    sock = socket.socket(target.family, socket.SOCK_DGRAM)
    try:
        sock.connect(target.sockaddr)
    except OSError as exc:
        sock.close()
        raise connect_error(exc, proto="udp", peer=target.endpoint) from exc
    sock.setblocking(False)
    return sock


def broadcast_udp_socket(family: socket.AddressFamily) -> socket.socket:
    """An unconnected UDP socket allowed to send to broadcast addresses."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setblocking(False)
    return sock


def local_port(sock: socket.socket) -> int:
    """The port a bound socket actually got (useful after binding port 0)."""
    return int(sock.getsockname()[1])


def peer_text(sockaddr: object) -> str:
    """``ip:port`` of a peer address tuple as asyncio hands it over."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return format_endpoint(str(sockaddr[0]), int(sockaddr[1]))
    return str(sockaddr)


def reset(transport: asyncio.WriteTransport) -> None:
    """Drop a connection with RST, its unsent data discarded.

    A plain close (also asyncio's ``abort``) queues FIN behind the unsent data: for a peer
    that reads nothing, the kernel then keeps the socket and its send buffer, probing a
    closed window. Lingering zero seconds resets at once.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def acknowledged(sock: socket.socket | None) -> int | None:
    """Bytes the TCP peer has acknowledged so far (Linux ``tcpi_bytes_acked``); None when
    the system does not say (other systems' tcp_info has another layout)."""
    if not _LINUX or sock is None or sock.type != socket.SOCK_STREAM or sock.fileno() < 0:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_ACKED + 8)
    except (OSError, AttributeError):
        return None
    if len(info) < _TCP_INFO_ACKED + 8:
        return None
    return int(struct.unpack_from("=Q", info, _TCP_INFO_ACKED)[0])


_TCP_INFO_ACKED = 120
"""Offset of tcpi_bytes_acked in Linux's struct tcp_info (since 4.1)."""
_LINUX = sys.platform.startswith("linux")


def unsent(sock: socket.socket | None) -> int | None:
    """Bytes in the kernel's send queue that the TCP peer has not acknowledged yet (Linux
    SIOCOUTQ); None when the system does not say."""
    if not _LINUX or sock is None or sock.type != socket.SOCK_STREAM or sock.fileno() < 0:
        return None
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        if state not in _SENDING:  # reset or closed: the queue's count is stale, never sent
            return 0
        return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0])
    except OSError:
        return None


_SENDING = frozenset({1, 8})
"""TCP states (Linux tcp_states.h) in which queued data may still reach the peer:
ESTABLISHED and CLOSE_WAIT."""


def limit_silence(sock: socket.socket | None, seconds: float) -> None:
    """Let the kernel drop the connection when what it sent stays unacknowledged for
    ``seconds`` (TCP_USER_TIMEOUT; zero-window probes included): a backstop for data a
    closed socket still holds, which no task watches any more."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is not None and option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, max(1, int(seconds * 1000)))


def peer_host(sockaddr: object) -> str:
    """The host of a peer's socket address as pigeon keys and answers it: an IPv4-mapped
    address as IPv4, a scoped one (IPv6 link-local, ``fe80::1``) with its interface
    (``fe80::1%eth0``): without it a reply has no link to leave by. Python's ``recvfrom`` and
    ``getpeername`` give the scope only as the 4-tuple's last number."""
    if not isinstance(sockaddr, tuple) or not sockaddr:
        return "?"
    host = unmap_ipv4(str(sockaddr[0]))
    if len(sockaddr) == 4 and sockaddr[3] and "%" not in host:
        try:
            return f"{host}%{socket.if_indextoname(int(sockaddr[3]))}"
        except OSError:
            return f"{host}%{int(sockaddr[3])}"
    return host
