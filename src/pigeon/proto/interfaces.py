"""The model of this host's network interfaces, and which address other LAN machines should use.

Pure: the caller reads the routing tables (``/proc/net/route``, ``/proc/net/ipv6_route``) and
interface lists; this module parses and decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    """One address on an interface; ``broadcast`` only for IPv4."""

    family: str  # "ipv4" or "ipv6"
    address: str
    prefix: int
    broadcast: str | None = None

    @property
    def is_loopback(self) -> bool:
        """True for 127.0.0.0/8 and ::1."""
        return ipaddress.ip_address(self.address.split("%")[0]).is_loopback

    @property
    def is_link_local(self) -> bool:
        """True for 169.254.0.0/16 and fe80::/10."""
        return ipaddress.ip_address(self.address.split("%")[0]).is_link_local


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface as ``pigeon ip`` shows it."""

    name: str
    up: bool
    mtu: int
    addresses: tuple[InterfaceAddress, ...]
    default_route: bool = False


def prefix_from_netmask(netmask: str | None, *, ipv6: bool) -> int:
    """Prefix length of a netmask such as ``255.255.255.0`` or ``ffff:ffff::``.

    A missing or non-contiguous mask counts as a host address (full length).
    """
    width = 128 if ipv6 else 32
    if not netmask:
        return width
    try:
        bits = int(ipaddress.ip_address(netmask))
    except ValueError:
        return width
    prefix = bin(bits).count("1")
    if bits != ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1):
        return width
    return prefix


def broadcast_for(address: str, prefix: int) -> str | None:
    """The IPv4 directed broadcast address of ``address``/``prefix`` (None for /31, /32)."""
    if prefix >= 31:
        return None
    net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    return str(net.broadcast_address)


def default_route_ifaces_v4(route_table: str) -> set[str]:
    """Interfaces carrying an IPv4 default route, from ``/proc/net/route`` text."""
    names: set[str] = set()
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            names.add(fields[0])
    return names


def default_route_ifaces_v6(route_table: str) -> set[str]:
    """Interfaces carrying an IPv6 default route, from ``/proc/net/ipv6_route`` text."""
    names: set[str] = set()
    for line in route_table.splitlines():
        fields = line.split()
        if len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
            names.add(fields[9])
    return names


def lan_address(interfaces: Sequence[Interface]) -> str | None:
    """The address other LAN machines should use: IPv4 on the default-route interface first.

    Falls back to any global IPv4 on an interface that is up, then a global IPv6; None when
    the host has only loopback.
    """

    def candidates(family: str, require_default: bool) -> Iterable[str]:
        for iface in interfaces:
            if not iface.up or (require_default and not iface.default_route):
                continue
            for addr in iface.addresses:
                if addr.family == family and not addr.is_loopback and not addr.is_link_local:
                    yield addr.address

    for family, require_default in (("ipv4", True), ("ipv4", False), ("ipv6", True)):
        for found in candidates(family, require_default):
            return found
    return None


def reachable_addresses(interfaces: Sequence[Interface]) -> list[str]:
    """Every non-loopback, non-link-local address on an up interface, the LAN address first."""
    best = lan_address(interfaces)
    found: list[str] = []
    for iface in interfaces:
        if not iface.up:
            continue
        for addr in iface.addresses:
            if not addr.is_loopback and not addr.is_link_local and addr.address not in found:
                found.append(addr.address)
    if best in found:
        found.remove(best)
        found.insert(0, best)
    return found
