"""Reading standard input without blocking the event loop.

A daemon thread does the blocking reads (works for terminals, pipes and regular files alike)
and hands chunks to the loop through a bounded queue; being a daemon, it never keeps the
process alive after the command is done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import threading
from collections.abc import AsyncIterator

CHUNK = 65_536
QUEUE_LIMIT = 16


async def stdin_chunks(fd: int | None = None) -> AsyncIterator[bytes]:
    """Yield raw chunks from standard input until end of file."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(QUEUE_LIMIT)
    source = sys.stdin.fileno() if fd is None else fd

    def put(item: bytes | BaseException | None) -> bool:
        """Hand ``item`` to the loop; False once the loop is gone (the command is done)."""
        handover = queue.put(item)
        try:
            future = asyncio.run_coroutine_threadsafe(handover, loop)
        except RuntimeError:  # the loop is closed: the command is done
            handover.close()
            return False
        try:
            future.result()
        except (RuntimeError, concurrent.futures.CancelledError, asyncio.CancelledError):
            return False  # the loop stopped waiting: nobody wants input any more
        return True

    def reader() -> None:
        try:
            while chunk := os.read(source, CHUNK):
                if not put(chunk):
                    return
        except OSError as exc:
            put(exc)
            return
        put(None)

    threading.Thread(target=reader, name="pigeon-stdin", daemon=True).start()
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


async def stdin_lines(fd: int | None = None) -> AsyncIterator[bytes]:
    """Yield standard input line by line, without the line ending."""
    pending = b""
    async for chunk in stdin_chunks(fd):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.removesuffix(b"\r")
    if pending:
        yield pending.removesuffix(b"\r")


async def typed_lines() -> AsyncIterator[str]:
    """Standard input, line by line, decoded as the terminal's charset (UTF-8 default)."""
    encoding = (sys.stdin.encoding if sys.stdin else None) or "utf-8"
    async for line in stdin_lines():
        yield line.decode(encoding, "replace")
