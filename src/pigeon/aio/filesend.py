"""Sending byte ranges of open files: ``loop.sendfile`` (zero-copy), or bounded pread/write.

The one file-sending path of pigeon: ``pigeon serve`` (HTTP and the tutorial's protocol) and
chat attachments (IP Messenger GETFILEDATA / GETDIRFILES) all send through ``send_span``.
A span being hashed alongside its send (``aio.digesting``) is reported after each step.
Each step goes at the peer's pace (``aio.pace``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Iterator

from pigeon.aio.pace import drained, paced, write_within
from pigeon.fs.root import OpenFile

SENDFILE_CHUNK = 8 << 20
FALLBACK_CHUNK = 256 << 10


@contextlib.contextmanager
def _corked(writer: asyncio.StreamWriter) -> Iterator[None]:
    """TCP_CORK for the body: the kernel sends only full segments until uncorked (as nginx's
    ``tcp_nopush``; what it gains: bench/analysis.md, "Large file"). Uncorking at the end
    flushes the last partial segment at once."""
    sock = writer.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        yield
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)


class FileSpan:
    """A byte range of an open file, passed through h11 as if it were body bytes.

    ``sent`` counts the bytes ``send_span`` handed to the kernel so far (also when cut).
    """

    def __init__(self, file: OpenFile, offset: int, count: int) -> None:
        self.file, self.offset, self.count = file, offset, count
        self.sent = 0

    def __len__(self) -> int:
        return self.count


class ShortBody(Exception):
    """The file ended before the announced length (truncated while being served)."""


async def send_span(
    writer: asyncio.StreamWriter,
    span: FileSpan,
    *,
    use_sendfile: bool,
    stall_timeout: float,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Send ``span`` to ``writer`` at the peer's pace (``aio.pace``).

    ``progress`` is awaited with the bytes sent so far after each step (it may hold the
    next step back).

    Raises:
        ShortBody: the file ended early (truncated meanwhile).
        TimeoutError: the peer stopped reading for ``stall_timeout``.
    """
    if span.count == 0:
        return 0
    await drained(writer, stall_timeout)
    loop = asyncio.get_running_loop()
    sent = 0
    if use_sendfile:
        with os.fdopen(os.dup(span.file.fd), "rb", buffering=0) as fileobj, _corked(writer):
            while sent < span.count:
                count = min(SENDFILE_CHUNK, span.count - sent)
                step = span.offset + sent
                fileobj.seek(step)
                try:
                    n = await paced(
                        loop.sendfile(writer.transport, fileobj, step, count, fallback=True),
                        writer,
                        stall_timeout,
                    )
                except BaseException:
                    # asyncio moves the file position past what a failed step had sent
                    span.sent = sent + max(0, min(count, fileobj.tell() - step))
                    raise
                sent += n
                span.sent = sent
                if n < count:
                    raise ShortBody
                if progress is not None:
                    await progress(sent)
    else:
        while sent < span.count:
            count = min(FALLBACK_CHUNK, span.count - sent)
            chunk = await asyncio.to_thread(os.pread, span.file.fd, count, span.offset + sent)
            if not chunk:
                raise ShortBody
            await write_within(writer, chunk, stall_timeout)
            sent += len(chunk)
            span.sent = sent
            if progress is not None:
                await progress(sent)
    return sent
