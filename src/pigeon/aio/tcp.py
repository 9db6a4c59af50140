"""``pigeon tcp connect`` and ``pigeon tcp listen``: a netcat-like client, a many-client server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pigeon.aio.announce import listening
from pigeon.aio.events import ClientConnected, ClientDisconnected, Emit, Notice, StreamReceived
from pigeon.aio.oserrors import connect_error
from pigeon.aio.sockets import Resolved, bound_socket, peer_text, resolve
from pigeon.aio.stdin import stdin_chunks
from pigeon.errors import NetworkError, TimedOut
from pigeon.proto.address import parse_destination_port

if TYPE_CHECKING:  # the configs are annotations only; pigeon.config costs start-up
    from pigeon.config import TcpConnectConfig, TcpListenConfig

READ_SIZE = 65_536
STREAM_LIMIT = 65_536


def _stdout_sink(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


async def open_tcp(
    target: Resolved, within: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``target`` within ``within`` seconds.

    Raises:
        ConnectionRefused, NetworkUnreachable, TimedOut, NetworkError.
    """
    host, port = str(target.sockaddr[0]), int(target.sockaddr[1])
    try:
        async with asyncio.timeout(within):
            return await asyncio.open_connection(host, port, limit=STREAM_LIMIT)
    except TimeoutError:
        raise TimedOut(f"tcp {target.endpoint}: no answer within {within:g}s") from None
    except OSError as exc:
        raise connect_error(exc, proto="tcp", peer=target.endpoint) from exc


async def connect_socket(target: Resolved, within: float) -> socket.socket:
    """A non-blocking TCP socket connected to ``target`` within ``within`` seconds.

    For callers that drive the socket themselves (``loop.sock_*``, or a worker thread).

    Raises:
        ConnectionRefused, NetworkUnreachable, TimedOut, NetworkError.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(within):
            await loop.sock_connect(sock, target.sockaddr)
    except TimeoutError:
        sock.close()
        raise TimedOut(f"tcp {target.endpoint}: no answer within {within:g}s") from None
    except OSError as exc:
        sock.close()
        raise connect_error(exc, proto="tcp", peer=target.endpoint) from exc
    except BaseException:
        sock.close()
        raise
    return sock


async def _connect_any(
    cfg: TcpConnectConfig,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """The first of the host's addresses that accepts, and its ``ip:port`` (known even when
    the peer has already closed: ``getpeername`` then fails)."""
    parse_destination_port(cfg.port)  # a config made in Python meets the CLI's check
    targets = await resolve(cfg.host, cfg.port, socket.SOCK_STREAM)
    error: NetworkError | None = None
    for target in targets:
        try:
            reader, writer = await open_tcp(target, cfg.connect_timeout)
            return reader, writer, target.endpoint
        except NetworkError as exc:
            error = exc
    assert error is not None  # resolve() never returns an empty list
    raise error


async def run_connect(
    cfg: TcpConnectConfig, emit: Emit, sink: Callable[[bytes], None] = _stdout_sink
) -> int:
    """Copy stdin (or ``cfg.send``) to the peer and the peer to ``sink`` until the peer closes.

    Standard input's end half-closes the connection (the peer sees end of file) and pigeon
    keeps printing until the peer closes. ``idle_timeout`` ends a silent exchange.
    """
    reader, writer, peer = await _connect_any(cfg)
    received = 0

    async def upstream() -> None:
        if cfg.send is not None:
            writer.write(cfg.send)
        else:
            async for chunk in stdin_chunks():
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError as exc:
                # all was sent; the half-close found the peer gone (it answered and
                # closed first): not an error, its reply is still read to the end
                if exc.errno != errno.ENOTCONN:
                    raise

    async def downstream() -> None:
        nonlocal received
        while True:
            if cfg.idle_timeout is None:
                data = await reader.read(READ_SIZE)
            else:
                try:
                    async with asyncio.timeout(cfg.idle_timeout):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    if received == 0:
                        raise TimedOut(
                            f"tcp {peer}: no reply within {cfg.idle_timeout:g}s"
                        ) from None
                    return
            if not data:
                return
            received += len(data)
            sink(data)

    up = asyncio.create_task(upstream())
    try:
        await downstream()
        if up.done():
            up.result()
    except OSError as exc:
        raise connect_error(exc, proto="tcp", peer=peer) from exc
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await up
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return 0


async def run_listen(cfg: TcpListenConfig, emit: Emit) -> int:
    """Serve clients concurrently: show what they send, and reply, echo, or just listen."""
    sock = await bound_socket(cfg.bind, cfg.port, socket.SOCK_STREAM)
    done = asyncio.Event()
    active = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        peer = peer_text(writer.get_extra_info("peername"))
        if active >= cfg.max_clients:
            emit(Notice(f"refused {peer}: {cfg.max_clients} clients already connected"))
            writer.close()
            return
        active += 1
        emit(ClientConnected(time.time(), peer))
        bytes_in = bytes_out = 0
        reason = ""
        try:
            while data := await reader.read(READ_SIZE):
                bytes_in += len(data)
                emit(StreamReceived(time.time(), peer, data, cfg.encoding))
                answer = data if cfg.echo else cfg.reply
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
                    bytes_out += len(answer)
                if cfg.reply is not None:
                    break  # the tutorial's server: one answer, then close
        except OSError as exc:
            reason = str(connect_error(exc, proto="tcp", peer=peer))
        finally:
            active -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            emit(ClientDisconnected(time.time(), peer, bytes_in, bytes_out, reason))
            if cfg.once:
                done.set()

    server = await asyncio.start_server(handle, sock=sock, limit=STREAM_LIMIT)
    hint = "pigeon tcp connect {host} {port}"
    emit(listening(sock, protocol="tcp", bind=cfg.bind, hint=hint))
    async with server:
        await done.wait()
    return 0
