"""aio shells in-process on loopback: bounded datagram queue, stdin lines, tcp connect sink."""

from __future__ import annotations

import asyncio
import os
import socket

from pigeon.aio.datagram import DatagramChannel
from pigeon.aio.stdin import stdin_chunks, stdin_lines
from pigeon.aio.tcp import run_connect, run_listen
from pigeon.aio.udp import run_recv
from pigeon.config import TcpConnectConfig, TcpListenConfig, UdpRecvConfig
from pigeon.events import ClientConnected, DatagramReceived, Event, Listening, StreamReceived


async def test_full_queue_drops_and_counts_instead_of_growing() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    channel = await DatagramChannel.open(sock, limit=4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        for i in range(10):
            peer.sendto(bytes([i]), sock.getsockname())
    for _ in range(100):
        if channel.dropped == 6:
            break
        await asyncio.sleep(0.01)
    got = [await channel.recv() for _ in range(4)]
    channel.close()
    assert [g[0] for g in got if g] == [b"\x00", b"\x01", b"\x02", b"\x03"]
    assert channel.dropped == 6


async def test_empty_datagram_is_really_sent() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(sink.getsockname())
    sender_addr = sender.getsockname()
    channel = await DatagramChannel.open(sender, peer="sink")
    await channel.send(b"")
    await channel.send(b"x")
    channel.close()
    assert await asyncio.to_thread(sink.recvfrom, 10) == (b"", sender_addr)
    assert (await asyncio.to_thread(sink.recvfrom, 10))[0] == b"x"
    sink.close()


async def test_stdin_lines_split_on_any_chunking() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"one\r\ntw")
    os.write(write_fd, b"o\n\nthree")
    os.close(write_fd)
    lines = [line async for line in stdin_lines(read_fd)]
    os.close(read_fd)
    assert lines == [b"one", b"two", b"", b"three"]


async def test_recv_reports_each_datagram_with_requested_decoding() -> None:
    events: list[Event] = []
    port_ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, Listening):
            port_ready.set_result(event.port)

    task = asyncio.create_task(
        run_recv(UdpRecvConfig(bind="127.0.0.1", port=0, count=2, encoding="gbk"), emit)
    )
    port = await port_ready
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.sendto("中".encode("gbk"), ("127.0.0.1", port))
        peer.sendto(b"\xff", ("127.0.0.1", port))
    assert await asyncio.wait_for(task, 5) == 0
    received = [e for e in events if isinstance(e, DatagramReceived)]
    assert [(e.data, e.decode_as) for e in received] == [
        ("中".encode("gbk"), "gbk"),
        (b"\xff", "gbk"),
    ]


async def test_connect_and_listen_in_one_loop() -> None:
    events: list[Event] = []
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, Listening):
            ready.set_result(event.port)

    server = asyncio.create_task(
        run_listen(TcpListenConfig(bind="127.0.0.1", port=0, echo=True, once=True), emit)
    )
    port = await ready
    received = bytearray()
    cfg = TcpConnectConfig(host="127.0.0.1", port=port, send=b"ping" * 50_000)
    assert await run_connect(cfg, emit, received.extend) == 0
    assert await asyncio.wait_for(server, 5) == 0
    assert bytes(received) == b"ping" * 50_000
    assert any(isinstance(e, ClientConnected) for e in events)
    assert sum(len(e.data) for e in events if isinstance(e, StreamReceived)) == 200_000


def test_stdin_reader_stops_quietly_when_the_command_ends() -> None:
    """Input arriving after the loop closed must not print a thread traceback."""
    import threading
    import time

    errors: list[object] = []
    previous = threading.excepthook
    threading.excepthook = errors.append
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"first")

        async def first_chunk() -> bytes:
            async for chunk in stdin_chunks(read_fd):
                return chunk
            return b""

        assert asyncio.run(first_chunk()) == b"first"
        os.write(write_fd, b"late input")  # the reader thread wakes up with no loop to feed
        time.sleep(0.3)
    finally:
        threading.excepthook = previous
        os.close(write_fd)
        os.close(read_fd)
    assert errors == []
