"""Moving a body of known length from a socket into a sink at wire speed.

The event loop stays out of the way: one worker thread fills large buffers with ``recv_into``
while a second one hashes and writes the previous buffer (``hashlib`` and ``os.write`` release
the GIL), so receiving and hashing overlap. Memory is two fixed buffers, whatever the size.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

BLOCK = 4 << 20
"""Bytes per buffer (two of them are in use)."""

Consume = Callable[[memoryview], None]
Progress = Callable[[int], None]


def _pump(
    sock: socket.socket,
    length: int,
    consume: Consume,
    report: Callable[[int], None],
) -> int:
    """Blocking: receive up to ``length`` bytes, handing each full buffer to ``consume``.

    Returns the bytes received (less than ``length`` when the peer closed early).
    Raises whatever ``recv_into`` (TimeoutError, OSError) or ``consume`` raised.
    """
    buffers = (memoryview(bytearray(BLOCK)), memoryview(bytearray(BLOCK)))
    got = 0
    turn = 0
    pending: Future[None] | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="pigeon-sink") as sink:
        try:
            while got < length:
                view = buffers[turn]
                want = min(BLOCK, length - got)
                filled = 0
                closed = False
                try:
                    while filled < want:
                        n = sock.recv_into(view[filled:want])
                        if n == 0:
                            closed = True
                            break
                        filled += n
                except OSError:
                    if filled:  # keep what did arrive: a resume starts after it
                        if pending is not None:
                            pending.result()
                            pending = None
                        consume(view[:filled])
                        report(got + filled)
                    raise
                if pending is not None:
                    pending.result()  # the other buffer is free again, and order is kept
                    pending = None
                if filled:
                    pending = sink.submit(consume, view[:filled])
                    got += filled
                    report(got)
                if closed:
                    break
                turn ^= 1
            if pending is not None:
                pending.result()
        finally:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    pending.result()
    return got


async def receive_exactly(
    sock: socket.socket,
    length: int,
    consume: Consume,
    *,
    within: float,
    progress: Progress | None = None,
) -> int:
    """Receive ``length`` bytes from ``sock`` into ``consume`` off the event loop.

    ``within`` bounds each wait for data (a stalled peer raises TimeoutError). Cancelling
    shuts the socket down, which ends the worker at once.

    Returns:
        Bytes received; fewer than ``length`` means the peer closed early.
    """
    loop = asyncio.get_running_loop()
    sock.settimeout(within)

    def report(got: int) -> None:
        if progress is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(progress, got)

    work = loop.run_in_executor(None, _pump, sock, length, consume, report)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(BaseException):
            await work
        raise
    finally:
        sock.setblocking(False)


def unexpected_bytes(sock: socket.socket) -> bool:
    """True when more data is already waiting on ``sock`` (a body longer than announced)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False
