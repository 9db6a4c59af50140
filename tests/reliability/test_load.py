"""pigeon serve under sustained mixed load, and normal clients beside a crowd of slow ones.

- 1,000 concurrent clients for 30 s (``PIGEON_LOAD_SECONDS`` to change), each looping over
  full downloads, ranged requests, HEAD, the tutorial's protocol and slow-trickled requests:
  every answer checked, zero errors, server RSS sampled and bounded.
- 1,000 slowloris connections (one header byte per second) held open while 200 normal
  downloads run beside them: p99 latency under 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.interop.serve_fixtures import Served, make_tree, serve

pytestmark = pytest.mark.slow
SECONDS = float(os.environ.get("PIGEON_LOAD_SECONDS", "30"))
CLIENTS = 1000
RSS_LIMIT = 150_000_000


@contextlib.contextmanager
def server(tmp_path: Path) -> Iterator[Served]:
    root, outside = make_tree(tmp_path)
    (root / "64k.bin").write_bytes(os.urandom(65536))
    yield from serve(root, outside, "--quiet", "--max-connections", "4000")


async def _exchange(port: int, request: bytes, *, trickle: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if trickle:  # a slow client: the request in three pieces
            third = len(request) // 3
            for piece in (request[:third], request[third : 2 * third], request[2 * third :]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.2)
        else:
            writer.write(request)
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _http(target: str, *headers: str, method: str = "GET") -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode()


async def _mixed(port: int, body: bytes, seconds: float) -> tuple[int, int, dict[str, int]]:
    kinds: dict[str, tuple[bytes, bool, Callable[[bytes], bool]]] = {
        "full": (
            _http("/64k.bin"),
            False,
            lambda r: r.startswith(b"HTTP/1.1 200") and r.endswith(body),
        ),
        "range": (
            _http("/64k.bin", "Range: bytes=100-199"),
            False,
            lambda r: r.startswith(b"HTTP/1.1 206") and r.endswith(body[100:200]),
        ),
        "head": (
            _http("/64k.bin", method="HEAD"),
            False,
            lambda r: r.startswith(b"HTTP/1.1 200") and b"content-length: 65536" in r.lower(),
        ),
        "legacy": (b"64k.bin\n", False, lambda r: r == body),
        "slow": (_http("/small.txt"), True, lambda r: r.endswith(b"hello pigeon\n")),
    }
    names = list(kinds)
    done: dict[str, int] = dict.fromkeys(names, 0)
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < deadline:
            name = names[i % len(names)]
            request, trickle, good = kinds[name]
            i += 1
            try:
                async with asyncio.timeout(15):
                    reply = await _exchange(port, request, trickle=trickle)
            except (OSError, TimeoutError):
                errors += 1
                continue
            if good(reply):
                done[name] += 1
            else:
                errors += 1

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return sum(done.values()), errors, done


def test_thousand_clients_mixed_load(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        body = (s.root / "64k.bin").read_bytes()
        proc = psutil.Process(s.proc.proc.pid)
        peak = 0

        async def run() -> tuple[int, int, dict[str, int]]:
            nonlocal peak

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, proc.memory_info().rss)
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            try:
                return await _mixed(s.port, body, SECONDS)
            finally:
                sampler.cancel()

        total, errors, per_kind = asyncio.run(run())
        print(
            f"mixed load: {total} answers in {SECONDS:g}s, {errors} errors, {per_kind}, "
            f"server peak RSS {peak / 1e6:.1f} MB"
        )
        assert errors == 0, (errors, per_kind)
        assert all(count > 0 for count in per_kind.values()), per_kind
        assert total > CLIENTS, per_kind
        assert peak < RSS_LIMIT, peak
        assert s.proc.proc.poll() is None


def test_normal_clients_beside_a_thousand_slowloris(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        body = (s.root / "64k.bin").read_bytes()

        async def run() -> list[float]:
            loris: list[asyncio.StreamWriter] = []
            for _ in range(CLIENTS):
                _reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
                writer.write(b"G")
                loris.append(writer)
            latencies: list[float] = []

            async def normal() -> None:
                for _ in range(20):
                    began = time.monotonic()
                    reply = await _exchange(s.port, _http("/64k.bin"))
                    assert reply.endswith(body)
                    latencies.append(time.monotonic() - began)

            try:
                await asyncio.gather(*(normal() for _ in range(10)))
            finally:
                for writer in loris:
                    writer.close()
            return latencies

        latencies = asyncio.run(run())
    assert len(latencies) == 200
    print(
        f"beside 1000 slowloris: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {sorted(latencies)[int(0.99 * len(latencies))] * 1000:.1f} ms"
    )
    p99 = sorted(latencies)[int(0.99 * len(latencies))]
    assert p99 < 1.0, (p99, statistics.median(latencies))
