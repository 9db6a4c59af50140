"""The client connection's answer loop on a real socket pair: interim answers, a 101, an
answer cut mid-head, a flood of interim answers, repeated lengths and keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from pigeon.aio.http_client import MAX_INTERIM, Connections, HttpChannel
from pigeon.errors import ConnectionLost, ProtocolError, TimedOut
from pigeon.proto.http.source import Source

SOURCE = Source("127.0.0.1", 8000, "/f.txt")


async def _ask(answer: bytes, *, close: bool = True) -> tuple[HttpChannel, socket.socket]:
    """A channel whose server side has already sent ``answer`` (then closed, if ``close``)."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.sendall(answer)
    if close:
        theirs.shutdown(socket.SHUT_WR)
    return HttpChannel(ours, ("127.0.0.1", 8000), 5.0), theirs


async def test_interim_answers_are_skipped() -> None:
    channel, theirs = await _ask(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        close=False,
    )
    head = await channel.request("GET", SOURCE, [], keep_alive=True)
    assert (head.status, head.length) == (200, 2)
    got = bytearray()
    body = await channel.body([got.extend])
    assert (bytes(got), body.received, channel.reusable) == (b"hi", 2, True)
    assert theirs.recv(4096).startswith(b"GET /f.txt HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    channel.close()
    theirs.close()


async def test_a_flood_of_interim_answers_is_refused() -> None:
    channel, theirs = await _ask(b"HTTP/1.1 100\n\n" * 1_000)
    with pytest.raises(ProtocolError, match=f"more than {MAX_INTERIM} interim"):
        await channel.request("GET", SOURCE, [])
    channel.close()
    theirs.close()


async def test_a_switch_of_protocols_nobody_asked_for_is_refused() -> None:
    channel, theirs = await _ask(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
    with pytest.raises(ProtocolError, match="101 Switching Protocols"):
        await channel.request("GET", SOURCE, [])
    channel.close()
    theirs.close()


@pytest.mark.parametrize(
    ("answer", "when"),
    [(b"", "before answering"), (b"HTTP/1.1 200 OK\r\nContent-Le", "before the answer was")],
)
async def test_a_close_before_the_head_ends_is_a_lost_connection(answer: bytes, when: str) -> None:
    channel, theirs = await _ask(answer)
    with pytest.raises(ConnectionLost, match=when):
        await channel.request("GET", SOURCE, [])
    channel.close()
    theirs.close()


async def test_a_repeated_length_reaches_the_download_as_one_number() -> None:
    channel, theirs = await _ask(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", close=False
    )
    head = await channel.request("GET", SOURCE, [], keep_alive=True)
    assert (head.length, head.headers["content-length"]) == (3, "3")
    channel.close()
    theirs.close()


async def test_both_codings_are_read_chunked_and_the_connection_is_not_reused() -> None:
    channel, theirs = await _ask(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        close=False,
    )
    await channel.request("GET", SOURCE, [], keep_alive=True)
    got = bytearray()
    await channel.body([got.extend])
    assert (bytes(got), channel.reusable) == (b"abc", False)
    channel.close()
    theirs.close()


async def test_a_head_dripping_past_the_limit_is_a_timeout_not_a_wait_without_end() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    channel = HttpChannel(ours, ("127.0.0.1", 8000), 0.5)
    theirs.sendall(b"HTTP/1.1 200 OK\r\n")

    async def drip() -> None:
        for n in range(20):  # a line every 0.1 s: each read well within the limit
            await asyncio.sleep(0.1)
            theirs.sendall(b"X-%d: y\r\n" % n)

    dripping = asyncio.create_task(drip())
    began = time.monotonic()
    try:
        with pytest.raises(TimedOut, match=r"no complete answer head within 0\.5s"):
            await channel.request("GET", SOURCE, [])
        assert time.monotonic() - began < 1.5
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dripping
        channel.close()
        theirs.close()


async def test_a_kept_alive_connection_closed_by_the_server_is_replaced_once() -> None:
    """The server takes the second request on the kept-alive connection and closes it
    unanswered (an idle timeout racing the request): the request goes again on a new one."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(len(served))
        await reader.readuntil(b"\r\n\r\n")
        if served == [0]:  # the first connection answers once, then drops the next request
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Connections(5.0, keep_alive=True)
    got = bytearray()
    for name in ("a", "b"):
        channel, head = await pool.ask(Source("127.0.0.1", port, f"/{name}"), [])
        assert head.status == 200
        await channel.body([got.extend])
        pool.give_back(channel)
    pool.close()
    server.close()
    await server.wait_closed()
    assert (bytes(got), served) == (b"ab", [0, 1])


async def _kept_alive_then(second: bytes) -> tuple[Connections, Source, asyncio.Server]:
    """A pool holding a kept-alive connection whose server answers the next request on it
    with ``second`` and then closes, and closes its listening socket too."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        server.close()  # nothing listens any more: a new connection is refused
        writer.write(second)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    source = Source("127.0.0.1", server.sockets[0].getsockname()[1], "/a")
    pool = Connections(5.0, keep_alive=True)
    channel, _ = await pool.ask(source, [])
    await channel.body([lambda _data: None])
    pool.give_back(channel)
    return pool, source, server


async def test_a_server_gone_while_the_connection_idled_is_a_lost_connection() -> None:
    """Not a refusal: the download's retries treat it as the cut it is (a first refusal
    would fail at once)."""
    pool, source, server = await _kept_alive_then(b"")
    with pytest.raises(ConnectionLost, match="before answering"):
        await pool.ask(source, [])
    pool.close()
    await server.wait_closed()


async def test_an_answer_begun_and_cut_is_not_asked_again() -> None:
    pool, source, server = await _kept_alive_then(b"HTTP/1.1 200 OK\r\nContent-Le")
    with pytest.raises(ConnectionLost, match="before the answer was complete"):
        await pool.ask(source, [])
    pool.close()
    await server.wait_closed()
