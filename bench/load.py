"""Load generators written for the harness: many concurrent HTTP downloads, and chat traffic.

The HTTP client is deliberately minimal (one GET per connection, read to EOF) so that it
costs the same against every server.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    """What a concurrent download run did."""

    wall: float
    errors: int
    body_bytes: int


async def _fetch(port: int, path: str, expect: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
            return -1
        got = 0
        while chunk := await reader.read(1 << 18):
            got += len(chunk)
        return got if got == expect else -1
    finally:
        writer.close()


FETCH_TIMEOUT = 30.0
"""A download not done by then counts as an error (http.server's backlog of 5 makes SYNs
retry with exponential backoff)."""


async def concurrent_downloads(port: int, path: str, count: int, expect: int) -> LoadResult:
    """``count`` simultaneous GETs of ``path``; a short body, an error or a timeout is an error."""
    start = time.perf_counter()
    results = await asyncio.gather(
        *(asyncio.wait_for(_fetch(port, path, expect), FETCH_TIMEOUT) for _ in range(count)),
        return_exceptions=True,
    )
    wall = time.perf_counter() - start
    errors = sum(1 for r in results if not isinstance(r, int) or r < 0)
    got = sum(r for r in results if isinstance(r, int) and r > 0)
    return LoadResult(wall, errors, got)


@dataclass
class ChatResult:
    """Acknowledged messages per second and per-message latency (send to ack)."""

    rate: float
    p50_ms: float
    p99_ms: float
    lost: int


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


PLAIN_ECHO = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    data, addr = sock.recvfrom(65536)
    sock.sendto(data[:8], addr)
"""


def plain_loop(count: int, window: int, size: int = 100) -> ChatResult:
    """A plain sendto/recvfrom loop: a receiver acks each datagram; ``window`` in flight."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    echo = subprocess.Popen([sys.executable, "-c", PLAIN_ECHO, str(port)])
    try:
        time.sleep(0.3)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(1.0)
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        pad = b"x" * (size - 8)
        next_no = 0
        lost = 0
        start = time.perf_counter()
        while len(latencies) + lost < count:
            while next_no < count and len(sent_at) < window:
                sent_at[next_no] = time.perf_counter()
                sock.sendto(next_no.to_bytes(8, "big") + pad, ("127.0.0.1", port))
                next_no += 1
            try:
                data, _ = sock.recvfrom(64)
            except TimeoutError:
                lost += len(sent_at)
                sent_at.clear()
                continue
            no = int.from_bytes(data[:8], "big")
            began = sent_at.pop(no, None)
            if began is not None:
                latencies.append(time.perf_counter() - began)
        wall = time.perf_counter() - start
        sock.close()
    finally:
        echo.kill()
        echo.wait()
    return ChatResult(
        len(latencies) / wall,
        _percentile(latencies, 0.5) * 1000,
        _percentile(latencies, 0.99) * 1000,
        lost,
    )


async def pigeon_chat(count: int, window: int, receiver_port: int) -> ChatResult:
    """Messages from an in-process pigeon ChatNode to a ``pigeon chat`` process, acked.

    ``window`` messages are in flight: each receipt (``Delivered``) sends the next one from
    the node's own callback, as the plain loop sends its next datagram when an ack arrives.
    """
    from pigeon.aio.chat_node import ChatNode
    from pigeon.config import ChatConfig
    from pigeon.proto.chat.events import Delivered, NotDelivered

    cfg = ChatConfig(
        nick="bench",
        user="bench",
        host="bench",
        port=0,
        bind="127.0.0.1",
        discovery=False,
        peers=(("127.0.0.1", receiver_port),),
        rate=1e9,
    )
    latencies: list[float] = []
    sent_at: dict[int, float] = {}
    lost = 0
    sent = 0
    body = "x" * 100
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def send_one() -> None:
        nonlocal sent
        sent += 1
        began = loop.time()
        sent_at[node.post_text(target, body)] = began

    def show(event: object) -> None:
        nonlocal lost
        if type(event) is Delivered:
            latencies.append(loop.time() - sent_at.pop(event.msg_id))
        elif type(event) is NotDelivered:
            del sent_at[event.msg_id]
            lost += 1
        else:
            return
        if sent < count:
            send_one()
        elif not sent_at and not finished.done():
            finished.set_result(None)

    async with ChatNode(cfg, show) as node:
        target = node.explicit[0]
        start = loop.time()
        for _ in range(min(window, count)):
            send_one()
        await finished
        wall = loop.time() - start
    return ChatResult(
        len(latencies) / wall,
        statistics.median(latencies) * 1000 if latencies else float("nan"),
        _percentile(latencies, 0.99) * 1000,
        lost,
    )
