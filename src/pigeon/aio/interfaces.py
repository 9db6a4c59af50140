"""Reading this host's interfaces and routing tables (psutil and /proc) into ``proto`` models."""

from __future__ import annotations

import socket
from pathlib import Path

from pigeon.proto.interfaces import (
    Interface,
    InterfaceAddress,
    broadcast_for,
    default_route_ifaces_v4,
    default_route_ifaces_v6,
    prefix_from_netmask,
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def list_interfaces() -> list[Interface]:
    """Every interface with its state, MTU, addresses and whether it has a default route."""
    import psutil  # lazy: only commands that show or announce addresses pay for it

    defaults = default_route_ifaces_v4(_read("/proc/net/route")) | default_route_ifaces_v6(
        _read("/proc/net/ipv6_route")
    )
    stats = psutil.net_if_stats()
    result: list[Interface] = []
    for name, addrs in psutil.net_if_addrs().items():
        found: list[InterfaceAddress] = []
        for addr in addrs:
            if addr.family == socket.AF_INET:
                prefix = prefix_from_netmask(addr.netmask, ipv6=False)
                bcast = addr.broadcast or broadcast_for(addr.address, prefix)
                found.append(InterfaceAddress("ipv4", addr.address, prefix, bcast))
            elif addr.family == socket.AF_INET6:
                prefix = prefix_from_netmask(addr.netmask, ipv6=True)
                found.append(InterfaceAddress("ipv6", addr.address, prefix))
        stat = stats.get(name)
        result.append(
            Interface(
                name=name,
                up=bool(stat and stat.isup),
                mtu=stat.mtu if stat else 0,
                addresses=tuple(found),
                default_route=name in defaults,
            )
        )
    result.sort(key=lambda i: (not i.default_route, i.name == "lo", i.name))
    return result
