"""Moving a body of known length (or a stream until its end) from a socket into a sink at
wire speed.

The event loop stays out of the way: one worker thread fills large buffers with ``recv_into``
while each *stage* (writing, hashing) takes the filled ones in order in a thread of its own
(``os.write`` and ``hashlib`` release the GIL), so receiving, writing and hashing overlap and a
slow disk write hides behind the hash instead of adding to it. A buffer is reused once every
stage is done with it. Memory is a ring of ``DEPTH`` buffers of ``BLOCK`` bytes, whatever the
size of the body. On a slow link a buffer is handed over after ``HAND_OVER_AFTER`` seconds
even when not full, so progress keeps moving and a killed run leaves on disk nearly everything
that arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

BLOCK = 8 << 20
"""Bytes per buffer: large enough that handing a buffer between threads costs nothing beside
hashing it (the sizes tried: bench/analysis.md, "Constants")."""
DEPTH = 3
"""Buffers in the ring (``DEPTH * BLOCK`` bytes of memory): with writing and hashing side by
side, one buffer more than the two stages, so a slow write does not stall the receive."""
HAND_OVER_AFTER = 0.25
"""Seconds a buffer may keep received bytes before they are hashed, written and reported."""
WAIT_STEP = 3600.0
"""With no stall limit (``within=None``), how long one wait for data lasts before it simply
waits again. The socket stays in timeout mode, never blocking mode, so its descriptor stays
non-blocking and the event loop may send on a ``dup`` of it meanwhile (blocking mode would
clear O_NONBLOCK on the shared descriptor under the loop's feet)."""
UNTIL_CLOSED = sys.maxsize
"""A ``length`` that only the peer's end of stream ends."""

Consume = Callable[[memoryview], None]
Progress = Callable[[int], None]


def _halting(stage: Consume) -> Consume:
    """``stage`` that does nothing more once it has raised: a write that failed (disk full)
    must not be followed by the next buffer's write, which its worker may already have taken
    before the receiving thread sees the error."""
    failed = False

    def run(chunk: memoryview) -> None:
        nonlocal failed
        if failed:
            return
        try:
            stage(chunk)
        except BaseException:
            failed = True
            raise

    return run


def write_all_to(fd: int) -> Consume:
    """A stage writing every byte to the file descriptor ``fd`` (stdout: ``tcp listen --raw``)."""

    def write(chunk: memoryview) -> None:
        while chunk:
            chunk = chunk[os.write(fd, chunk) :]

    return write


def _fill(
    sock: socket.socket, view: memoryview, within: float | None, due: float, *, forever: bool
) -> tuple[int, bool, OSError | None]:
    """Receive into ``view`` until it is full, the peer closes, or (once something arrived)
    ``due`` passes. Returns (bytes filled, whether the peer closed, the error that ended it);
    the error, a stall's TimeoutError too, is returned rather than raised so that the caller
    first hands on what did arrive."""
    filled = 0
    sock.settimeout(within)
    try:
        while filled < len(view):
            handing_over = False
            if filled:  # wait for more only until the buffer is due
                left = due - time.monotonic()
                if left <= 0:
                    break
                handing_over = forever or within is None or left < within
                sock.settimeout(left if handing_over else within)
            try:
                n = sock.recv_into(view[filled:])
            except TimeoutError:
                if handing_over:
                    break  # a slow link: hand over what is here
                if forever:
                    continue  # no stall limit: silence is allowed
                raise
            if n == 0:
                return filled, True, None
            filled += n
    except OSError as exc:
        return filled, False, exc
    return filled, False, None


def _pump(
    sock: socket.socket,
    length: int,
    stages: Sequence[Consume],
    report: Callable[[int], None],
    *,
    forever: bool = False,
    hand_over_after: float = HAND_OVER_AFTER,
) -> int:
    """Blocking: receive up to ``length`` bytes, handing each buffer to every stage when it is
    full or due (``HAND_OVER_AFTER``). Each stage sees every byte, in order.

    Returns the bytes received (less than ``length`` when the peer closed early).
    Raises whatever ``recv_into`` (TimeoutError, OSError) or a stage raised; with
    ``forever``, silence never raises TimeoutError.
    """
    within = sock.gettimeout()  # the stall limit; waits for a due buffer are shorter
    buffers = [memoryview(bytearray(BLOCK)) for _ in range(DEPTH)]
    got = 0
    turn = 0
    pending: deque[list[Future[None]]] = deque()  # per handed-over buffer, oldest first
    workers = [ThreadPoolExecutor(1, thread_name_prefix="pigeon-sink") for _ in stages]
    stages = [_halting(stage) for stage in stages]

    def settle(futures: list[Future[None]]) -> None:
        for future in futures:
            future.result()

    try:
        while got < length:
            if len(pending) == DEPTH:
                settle(pending.popleft())  # the oldest buffer is free again
            view = buffers[turn]
            want = min(BLOCK, length - got)
            due = time.monotonic() + hand_over_after
            filled, closed, failed = _fill(sock, view[:want], within, due, forever=forever)
            if failed is not None:
                if filled:  # keep what did arrive: a resume starts after it
                    while pending:
                        settle(pending.popleft())
                    for stage in stages:
                        stage(view[:filled])
                    report(got + filled)
                raise failed
            if filled:
                chunk = view[:filled]
                jobs = zip(workers, stages, strict=True)
                pending.append([worker.submit(stage, chunk) for worker, stage in jobs])
                got += filled
                report(got)
            if closed:
                break
            turn = (turn + 1) % DEPTH
        while pending:
            settle(pending.popleft())
    finally:
        sock.settimeout(within)
        for worker in workers:
            worker.shutdown(wait=True, cancel_futures=True)  # no stage outlives the buffers
    return got


async def receive_exactly(
    sock: socket.socket,
    length: int,
    stages: Sequence[Consume],
    *,
    within: float | None,
    progress: Progress | None = None,
    hand_over_after: float = HAND_OVER_AFTER,
) -> int:
    """Receive ``length`` bytes from ``sock`` off the event loop; every stage sees them all.

    ``within`` bounds each wait for data (a stalled peer raises TimeoutError); None waits as
    long as the peer likes (``length=UNTIL_CLOSED``: a stream read to its end). A buffer is
    handed to the stages once full or ``hand_over_after`` seconds after its first byte.
    Cancelling shuts the socket down, which ends the worker at once.

    Returns:
        Bytes received; fewer than ``length`` means the peer closed early.
    """
    loop = asyncio.get_running_loop()
    sock.settimeout(WAIT_STEP if within is None else within)

    def report(got: int) -> None:
        if progress is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(progress, got)

    def pump() -> int:
        return _pump(
            sock,
            length,
            stages,
            report,
            forever=within is None,
            hand_over_after=hand_over_after,
        )

    work = loop.run_in_executor(None, pump)
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
