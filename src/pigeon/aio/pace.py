"""Writing to a peer at its pace: the one deadline for every byte a server sends.

A peer may read slowly (a phone on weak Wi-Fi) and must then be served at its pace, however
long that takes; one that takes nothing for ``stall_timeout`` seconds is dropped. Progress
is what the peer acknowledged (TCP_INFO), seen every ``stall_timeout``: the kernel's buffers
take megabytes at once, so a fixed timeout per write or per sendfile step would drop slow
readers and a wait without one would keep a silent peer forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from pigeon.aio.sockets import acknowledged, reset

T = TypeVar("T")


def _taken(writer: asyncio.StreamWriter) -> int:
    """A count that grows while the peer takes data: bytes it acknowledged, or (where the
    system does not say) how far our own buffer shrank."""
    ack = acknowledged(writer.get_extra_info("socket"))
    return ack if ack is not None else -writer.transport.get_write_buffer_size()


async def paced(step: Awaitable[T], writer: asyncio.StreamWriter, stall_timeout: float) -> T:
    """Await ``step`` (a drain, a sendfile, a close) while the peer keeps taking data.

    Raises:
        TimeoutError: the peer took nothing for ``stall_timeout`` seconds (``step`` is
            cancelled; the caller drops the connection).
    """
    task = asyncio.ensure_future(step)
    try:
        last = _taken(writer)
        while True:
            done, _ = await asyncio.wait({task}, timeout=stall_timeout)
            if done:
                return task.result()
            now = _taken(writer)
            if now <= last:
                raise TimeoutError
            last = now
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def drained(writer: asyncio.StreamWriter, stall_timeout: float) -> None:
    """Wait until ``writer``'s buffer is drained (``paced``)."""
    transport = writer.transport
    low, _high = transport.get_write_buffer_limits()
    if transport.get_write_buffer_size() <= low:
        # not paused: drain returns at once (or raises for a lost connection) without a
        # task or a turn of the loop, the common case of every small answer
        await writer.drain()
        return
    await paced(writer.drain(), writer, stall_timeout)


async def write_within(writer: asyncio.StreamWriter, data: bytes, stall_timeout: float) -> None:
    """Write ``data`` and wait until the peer has taken it (``paced``)."""
    if data:
        writer.write(data)
    await drained(writer, stall_timeout)


async def closed(writer: asyncio.StreamWriter, stall_timeout: float) -> None:
    """Close, letting the peer take what is left at its pace; reset if it takes nothing
    (a plain close would keep a silent peer's unsent buffer for good)."""
    writer.close()
    try:
        await paced(writer.wait_closed(), writer, stall_timeout)
    except TimeoutError:
        reset(writer.transport)
    except OSError:
        pass
