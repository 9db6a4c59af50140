"""The peer table: who we have heard from, by (IP, port), bounded overall and per host.

The table is keyed by (IP, port), since several chats may run on one host, but holds at
most ``PEERS_PER_HOST`` entries of one host (``host_key``: an IP address, an IPv4-mapped
IPv6 address as its IPv4 address): a host's new ports push out its own least recently heard
entries, never another host's peers. At most ``PEER_LIMIT`` entries in all; the least
recently heard goes first. What a peer's packets say about it is read in
``proto.chat.learning``; this module only keeps it.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from pigeon.proto.address import format_endpoint
from pigeon.proto.chat.events import Addr, PeerInfo

PEER_LIMIT = 1024
"""Peers kept; the least recently heard is forgotten first."""
PEERS_PER_HOST = 16
"""Peers (ports) kept for one host (``host_key``); the least recently heard of that host is
forgotten first."""
HOST_KEYS_KEPT = 4096
"""IPv6 addresses whose ``host_key`` is remembered (it costs a parse); then all are dropped."""
UTF8 = "utf-8"


@dataclass(slots=True)
class Peer:
    """What we know about one peer; changed as its packets tell us more."""

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
    """The last ``info()`` and the fields it was made from (one is asked for per message)."""

    @property
    def introduced(self) -> bool:
        """It has told us its version and user name (an entry or a message of its own)."""
        return bool(self.version and self.user)

    def info(self) -> PeerInfo:
        """A snapshot for events; the same object until a field changes."""
        key = (self.nick, self.user, self.host, self.group, self.version, self.utf8,
               self.encoding, self.plain)  # fmt: skip
        snapshot = self.snapshot
        if snapshot is not None and snapshot[0] == key:
            return snapshot[1]
        name = self.nick or self.user or format_endpoint(*self.addr)
        shown = UTF8 if self.utf8 else (self.encoding or "unknown")
        made = PeerInfo(
            self.addr, name, self.user, self.host, self.group, self.version, shown, self.plain
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


class KnownPeers:
    """The bounded peer table, least recently heard first."""

    def __init__(self) -> None:
        self._peers: OrderedDict[Addr, Peer] = OrderedDict()
        self._hosts: dict[str, OrderedDict[Addr, None]] = {}
        """Each host's entries of ``_peers``, least recently heard first (for the per-host
        cap), by ``host_key``."""
        self._keys: dict[str, str] = {}
        """``host_key`` of the IPv6 addresses heard lately."""

    def __iter__(self) -> Iterator[Peer]:
        """The peers, least recently heard first."""
        return iter(self._peers.values())

    def __contains__(self, addr: Addr) -> bool:
        return addr in self._peers

    def get(self, addr: Addr) -> Peer | None:
        """The peer at ``addr``, if known (without marking it heard)."""
        return self._peers.get(addr)

    def info(self, addr: Addr) -> PeerInfo:
        """The snapshot of the peer at ``addr``; a bare one (its address) when not known."""
        peer = self._peers.get(addr)
        return peer.info() if peer else Peer(addr).info()

    def key(self, ip: str) -> str:
        """``host_key(ip)``, remembered for the IPv6 addresses heard lately."""
        if ":" not in ip:
            return ip
        key = self._keys.get(ip)
        if key is None:
            if len(self._keys) >= HOST_KEYS_KEPT:
                self._keys.clear()
            key = self._keys[ip] = host_key(ip)
        return key

    def touch(self, addr: Addr) -> Peer:
        """The peer at ``addr``, marked heard; added if new (within the per-host and
        overall caps)."""
        peer = self._peers.get(addr)
        if peer is not None:
            self.heard(addr)
            return peer
        peer = self._peers[addr] = Peer(addr)
        host = self.key(addr[0])
        ports = self._hosts.get(host)
        if ports is None:
            ports = self._hosts[host] = OrderedDict()
        ports[addr] = None
        if len(ports) > PEERS_PER_HOST:  # a host's new port pushes out its own oldest
            self.forget(next(iter(ports)))
        if len(self._peers) > PEER_LIMIT:
            self.forget(next(iter(self._peers)))
        return peer

    def heard(self, addr: Addr) -> None:
        """Mark the known peer at ``addr`` as the most recently heard (overall and of its host)."""
        self._peers.move_to_end(addr)
        self._hosts[self.key(addr[0])].move_to_end(addr)

    def forget(self, addr: Addr) -> Peer | None:
        """Drop ``addr`` from the table (and from its host's entries); the peer it was."""
        peer = self._peers.pop(addr, None)
        if peer is not None:
            host = self.key(addr[0])
            ports = self._hosts[host]
            del ports[addr]
            if not ports:
                del self._hosts[host]
        return peer

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
