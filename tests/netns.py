"""Two network namespaces joined by a veth pair, for tests that broadcast or lose packets.

Needs root (CI is root). The namespaces have only loopback and their end of the pair, so a
broadcast can reach nothing but the other namespace. ``run_in`` prefixes a command with
``ip netns exec``. Everything is removed afterwards, even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from tests.helpers import require_root, require_tool


@dataclass(frozen=True)
class VethPair:
    """Namespace names and addresses of the two ends."""

    ns_a: str
    ns_b: str
    addr_a: str
    addr_b: str

    def run_in(self, ns: str, argv: list[str]) -> list[str]:
        """``argv`` to be run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *argv]

    def kill_all(self, ns: str) -> None:
        """SIGKILL every process in ``ns`` (helpers such as Xvfb included)."""
        pids = subprocess.run(
            ["ip", "netns", "pids", ns], check=False, capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def veth_pair(tag: str, *, subnet: str = "10.77.0") -> Iterator[VethPair]:
    """Namespaces ``pg<tag>a`` and ``pg<tag>b`` on ``subnet``.0/24, broadcast routes set."""
    require_root()
    require_tool("ip")
    suffix = f"{tag}{os.getpid() % 10000}"
    pair = VethPair(f"pg{suffix}a", f"pg{suffix}b", f"{subnet}.1", f"{subnet}.2")
    try:
        _ip("netns", "add", pair.ns_a)
        _ip("netns", "add", pair.ns_b)
        _ip(
            "link",
            "add",
            "pg-a",
            "netns",
            pair.ns_a,
            "type",
            "veth",
            "peer",
            "name",
            "pg-b",
            "netns",
            pair.ns_b,
        )
        for ns, dev, addr in ((pair.ns_a, "pg-a", pair.addr_a), (pair.ns_b, "pg-b", pair.addr_b)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "broadcast", f"{subnet}.255", "dev", dev)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "route", "add", "255.255.255.255/32", "dev", dev)
        yield pair
    finally:
        for ns in (pair.ns_a, pair.ns_b):
            pair.kill_all(ns)
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
