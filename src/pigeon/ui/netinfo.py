"""How ``pigeon ip`` and ``pigeon ping`` present interfaces and round-trip statistics."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pigeon.proto.interfaces import Interface, lan_address
from pigeon.proto.rtt import RttSummary
from pigeon.proto.text import plural
from pigeon.ui.report import Reporter, json_line


def interfaces_json(interfaces: Sequence[Interface]) -> dict[str, object]:
    """The document ``pigeon ip --json`` prints."""
    return {
        "lan_address": lan_address(interfaces),
        "interfaces": [
            {
                "name": i.name,
                "up": i.up,
                "mtu": i.mtu,
                "default_route": i.default_route,
                "addresses": [
                    {
                        "family": a.family,
                        "address": a.address,
                        "prefix": a.prefix,
                        "broadcast": a.broadcast,
                    }
                    for a in i.addresses
                ],
            }
            for i in interfaces
        ],
    }


def interfaces_text(interfaces: Sequence[Interface]) -> list[str]:
    """Lines for ``pigeon ip``, the address to give other machines marked with ``*``."""
    best = lan_address(interfaces)
    lines: list[str] = []
    for iface in interfaces:
        state = "up" if iface.up else "down"
        route = ", default route" if iface.default_route else ""
        lines.append(f"{iface.name}: {state}, mtu {iface.mtu}{route}")
        for addr in iface.addresses:
            mark = "*" if addr.address == best else " "
            bcast = f"  broadcast {addr.broadcast}" if addr.broadcast else ""
            lines.append(f"  {mark} {addr.family:<4} {addr.address}/{addr.prefix}{bcast}")
    if best:
        lines.append(f"* other machines on the LAN reach this one at {best}")
    else:
        lines.append("no LAN address: only loopback is configured")
    return lines


def ping_summary_lines(peer: str, summary: RttSummary, refused: int) -> list[str]:
    """The closing statistics of ``pigeon ping``, as ping(8) prints them."""
    lines = [
        f"--- {peer} tcp ping statistics ---",
        f"{plural(summary.sent, 'probe')}, {summary.answered} connected, {refused} refused, "
        f"{summary.loss_percent:.0f}% without a connection",
    ]
    if summary.answered:
        lines.append(
            f"rtt min/avg/max/mdev = {summary.min_ms:.3f}/{summary.avg_ms:.3f}/"
            f"{summary.max_ms:.3f}/{summary.mdev_ms:.3f} ms"
        )
    return lines


def show_interfaces(interfaces: Sequence[Interface], *, json_output: bool) -> None:
    """Print what ``pigeon ip`` says on stdout: one JSON document, or the lines."""
    if json_output:
        print(json_line(interfaces_json(interfaces)))
    else:
        print("\n".join(interfaces_text(interfaces)))


def show_ping_summary(peer: str, summary: RttSummary, refused: int, reporter: Reporter) -> None:
    """Print ``pigeon ping``'s closing statistics through ``reporter`` (with ``--json``: one
    ``summary`` object)."""
    if not reporter.json_output:
        for line in ping_summary_lines(peer, summary, refused):
            reporter.data(line)
        return
    record = {
        "type": "summary",
        "peer": peer,
        "sent": summary.sent,
        "connected": summary.answered,
        "refused": refused,
        "min_ms": summary.min_ms,
        "avg_ms": summary.avg_ms,
        "max_ms": summary.max_ms,
        "mdev_ms": summary.mdev_ms,
    }
    reporter.data(json.dumps(record))
