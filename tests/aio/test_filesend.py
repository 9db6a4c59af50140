"""aio.filesend: bodies corked while sendfile runs, always uncorked after (even on errors)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from pigeon.aio.filesend import FileSpan, ShortBody, send_span
from pigeon.fs.root import OpenFile

uncorked_after_error: list[int] = []


async def _send_through(path: Path, offset: int, count: int) -> tuple[bytes, int, int]:
    """Send a span over real loopback TCP; returns what arrived and TCP_CORK during and after."""
    received = bytearray()
    done = asyncio.Event()
    corked_during: list[int] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 16):
            sender = server_writer[0]
            if not corked_during and not sender.is_closing():
                sock = sender.get_extra_info("socket")
                corked_during.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
            received.extend(chunk)
        writer.close()
        await writer.wait_closed()
        done.set()

    server_writer: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    server_writer.append(writer)
    fd = os.open(path, os.O_RDONLY)
    file = OpenFile(fd, os.fstat(fd), path.name)
    try:
        await send_span(writer, FileSpan(file, offset, count), use_sendfile=True, stall_timeout=5)
    except ShortBody:
        sock = writer.get_extra_info("socket")
        uncorked_after_error.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
        raise
    finally:
        after = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)
        file.close()
        writer.close()
        await done.wait()
        server.close()
        await server.wait_closed()
    return bytes(received), corked_during[0] if corked_during else -1, after


def test_a_span_arrives_whole_and_the_socket_is_uncorked_after(tmp_path: Path) -> None:
    data = os.urandom(3_000_001)  # not a multiple of any segment size: a partial tail
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    got, during, after = asyncio.run(_send_through(path, 1000, len(data) - 1000))
    assert got == data[1000:]
    assert during == 1
    assert after == 0


def test_a_truncated_file_still_leaves_the_socket_uncorked(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(ShortBody):
        asyncio.run(_send_through(path, 0, 5000))
    assert uncorked_after_error == [0]
