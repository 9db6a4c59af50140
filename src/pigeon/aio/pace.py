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

from pigeon.aio.sockets import acknowledged, reset, unsent

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
            # wait for the step to end without taking a cancellation aimed at our caller
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: a failed step is reported once, by our caller


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


async def flushed(writer: asyncio.StreamWriter, stall_timeout: float) -> None:
    """Wait until the peer has acknowledged everything written: our buffer drained and the
    kernel's send queue empty, at the peer's pace (``paced``). Only then is a file "sent".

    Raises:
        TimeoutError: the peer took nothing for ``stall_timeout`` seconds.
    """
    if writer.transport.get_write_buffer_size() or unsent(writer.get_extra_info("socket")):
        await paced(_emptied(writer), writer, stall_timeout)


async def _emptied(writer: asyncio.StreamWriter) -> None:
    """Our buffer and the kernel's send queue empty: polled (``drain`` returns at the
    low-water mark, not at zero, and no event says the kernel's queue is empty), more
    slowly as it lasts. ``unsent`` is None where the system does not say: then our buffer
    alone counts."""
    transport, sock = writer.transport, writer.get_extra_info("socket")
    delay = 0.005
    while not transport.is_closing() and (transport.get_write_buffer_size() or unsent(sock)):
        await writer.drain()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


async def closed(writer: asyncio.StreamWriter, stall_timeout: float) -> None:
    """Close once the peer has taken everything (``flushed``); reset if it takes nothing.

    A plain close hands what is left to the kernel, which keeps a silent peer's socket and
    its send buffer with nobody watching: so close only when nothing is left.
    """
    if writer.transport.is_closing():  # reset already, or closed by the peer's reset
        return
    try:
        await flushed(writer, stall_timeout)
    except TimeoutError:
        reset(writer.transport)
        return
    except OSError:
        pass
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(stall_timeout):
            await writer.wait_closed()
