"""A lossy UDP relay for tests: drops, duplicates, reorders and corrupts datagrams, seeded.

Peer A talks to ``relay.for_a`` and peer B to ``relay.for_b``; each datagram is forwarded to
the other side from the other socket, so each peer sees the relay as its partner. A daemon
thread does the work on 127.0.0.1 only. The decisions come from a seeded ``random.Random``.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

Addr = tuple[str, int]


@dataclass
class RelayStats:
    """What the relay did, for the test to check it really was lossy."""

    forwarded: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0


@dataclass
class UdpRelay:
    """Ports the two peers should use, and the counters."""

    for_a: int
    for_b: int
    stats: RelayStats = field(default_factory=RelayStats)


@contextlib.contextmanager
def udp_relay(
    a: Addr,
    b: Addr,
    *,
    seed: int,
    drop: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    corrupt: float = 0.0,
    hold: float = 0.05,
) -> Iterator[UdpRelay]:
    """Relay between ``a`` and ``b``; probabilities per datagram, ``hold`` s for reordering."""
    rng = random.Random(seed)
    side_a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    side_b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    side_a.bind(("127.0.0.1", 0))
    side_b.bind(("127.0.0.1", 0))
    relay = UdpRelay(side_a.getsockname()[1], side_b.getsockname()[1])
    stop = threading.Event()
    held: list[tuple[float, socket.socket, bytes, Addr]] = []

    def forward(out: socket.socket, data: bytes, dest: Addr) -> None:
        stats = relay.stats
        if rng.random() < drop:
            stats.dropped += 1
            return
        if data and rng.random() < corrupt:
            index = rng.randrange(len(data))
            data = data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]
            stats.corrupted += 1
        copies = 2 if rng.random() < duplicate else 1
        stats.duplicated += copies - 1
        for _ in range(copies):
            if rng.random() < reorder:
                stats.reordered += 1
                held.append((time.monotonic() + hold, out, data, dest))
            else:
                out.sendto(data, dest)
                stats.forwarded += 1

    def run() -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(side_a, selectors.EVENT_READ, (side_b, b))
            sel.register(side_b, selectors.EVENT_READ, (side_a, a))
            while not stop.is_set():
                for key, _mask in sel.select(timeout=0.01):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data, _src = sock.recvfrom(65536)
                    out, dest = key.data
                    forward(out, data, dest)
                now = time.monotonic()
                for item in [h for h in held if h[0] <= now]:
                    held.remove(item)
                    item[1].sendto(item[2], item[3])
                    relay.stats.forwarded += 1

    thread = threading.Thread(target=run, name="udp-relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(timeout=5)
        side_a.close()
        side_b.close()
