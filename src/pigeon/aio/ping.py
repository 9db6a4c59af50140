"""``pigeon ping``: round-trip times of TCP connects, which need no root (unlike ICMP echo)."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

from pigeon.aio.oserrors import connect_error
from pigeon.aio.sockets import resolve
from pigeon.config import PingConfig
from pigeon.errors import ConnectionRefused, PigeonError, TimedOut
from pigeon.events import Emit, PingProbe
from pigeon.proto.address import parse_destination_port
from pigeon.proto.rtt import RttSummary, summarize


@dataclass(frozen=True, slots=True)
class PingReport:
    """The summary, and the error to report when no probe connected."""

    summary: RttSummary
    refused: int
    error: PigeonError | None


async def _probe(family: socket.AddressFamily, sockaddr: tuple[str, int], within: float) -> float:
    """Milliseconds until the connect was answered; a refusal raises ConnectionRefusedError."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        start = time.perf_counter()
        async with asyncio.timeout(within):
            await loop.sock_connect(sock, sockaddr)
        return (time.perf_counter() - start) * 1000.0
    finally:
        sock.close()


async def run_ping(cfg: PingConfig, emit: Emit) -> PingReport:
    """Probe ``cfg.count`` times; the report's ``error`` is set when no connect succeeded.

    Raises:
        UnknownHost: the host does not resolve (nothing was probed).
    """
    parse_destination_port(cfg.port)  # a config made in Python meets the CLI's check
    target = (await resolve(cfg.host, cfg.port, socket.SOCK_STREAM))[0]
    sockaddr = (str(target.sockaddr[0]), int(target.sockaddr[1]))
    rtts: list[float] = []
    refused = 0
    last_error: PigeonError | None = None
    for seq in range(1, cfg.count + 1):
        if seq > 1:
            await asyncio.sleep(cfg.interval)
        start = time.perf_counter()
        try:
            rtt = await _probe(target.family, sockaddr, cfg.timeout)
        except ConnectionRefusedError:
            rtt_refused = (time.perf_counter() - start) * 1000.0
            refused += 1
            emit(PingProbe(seq, target.endpoint, "refused", rtt_refused))
            continue
        except TimeoutError:
            last_error = TimedOut(f"tcp {target.endpoint}: no answer within {cfg.timeout:g}s")
            emit(PingProbe(seq, target.endpoint, "timeout", None))
            continue
        except OSError as exc:
            last_error = connect_error(exc, proto="tcp", peer=target.endpoint)
            emit(PingProbe(seq, target.endpoint, str(last_error), None))
            continue
        rtts.append(rtt)
        emit(PingProbe(seq, target.endpoint, "connected", rtt))
    summary = summarize(cfg.count, rtts)
    if rtts:
        return PingReport(summary, refused, None)
    if refused:
        last_error = ConnectionRefused(
            f"tcp {target.endpoint}: the host answered but refused every connect (port closed)"
        )
    return PingReport(summary, refused, last_error or TimedOut(f"tcp {target.endpoint}: no answer"))
