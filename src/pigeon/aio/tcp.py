"""``pigeon tcp connect`` and ``pigeon tcp listen``: a netcat-like client, a many-client server,
and ``listen --raw``: one client at a time as a byte stream on stdin/stdout, like ``nc -l``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pigeon.aio.announce import listening
from pigeon.aio.bulk import UNTIL_CLOSED, receive_exactly, write_all_to
from pigeon.aio.oserrors import connect_error, no_answer
from pigeon.aio.pace import closed, write_within
from pigeon.aio.sockets import Resolved, bound_socket, peer_text, reset, resolve
from pigeon.aio.stdin import stdin_chunks
from pigeon.errors import LocalWriteError, NetworkError, PigeonError, TimedOut
from pigeon.events import ClientConnected, ClientDisconnected, Emit, Notice, StreamReceived
from pigeon.proto.address import parse_destination_port

if TYPE_CHECKING:  # the configs are annotations only; pigeon.config costs start-up
    from pigeon.config import TcpConnectConfig, TcpListenConfig

READ_SIZE = 65_536
STALL_TIMEOUT = 60.0
"""Seconds a client of ``tcp listen`` may take none of its echo or reply before it is
dropped (an echo to a client that never reads would hold its slot and buffer for good)."""
STREAM_LIMIT = 65_536
RAW_HAND_OVER = 0.01
"""--raw: seconds received bytes may wait in a buffer before going to stdout. Short, so an
interactive session shows a typed line at once; a bulk stream fills 8 MiB buffers long
before (1 GB/s is 10 MB per 10 ms) and keeps its large writes."""


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
        raise no_answer("tcp", target.endpoint, within) from None
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
        raise no_answer("tcp", target.endpoint, within) from None
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
        try:
            if not up.done() and not _stdin_is_terminal():
                # The peer's end of stream may be a half-close, not a hang-up: the rest of
                # stdin still goes (a `tcp listen --raw` whose own stdin ended at once shuts
                # down its side before our file is through). A terminal never ends by
                # itself: stop there.
                await up
            if up.done():
                up.result()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it was a hang-up: after the peer's end of stream, the exchange is over
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


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdin.fileno()) if sys.stdin is not None else False
    except (OSError, ValueError):
        return False


async def run_listen(cfg: TcpListenConfig, emit: Emit) -> int:
    """Serve clients concurrently: show what they send, and reply, echo, or just listen.
    With ``cfg.raw``: ``run_listen_raw``."""
    if cfg.raw:
        return await run_listen_raw(cfg, emit)
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
                    await write_within(writer, answer, STALL_TIMEOUT)
                    bytes_out += len(answer)
                if cfg.reply is not None:
                    break  # the tutorial's server: one answer, then close
        except TimeoutError:
            reason = f"took nothing for {STALL_TIMEOUT:g}s: dropped"
            reset(writer.transport)
        except OSError as exc:
            reason = str(connect_error(exc, proto="tcp", peer=peer))
        finally:
            active -= 1
            await closed(writer, STALL_TIMEOUT)
            emit(ClientDisconnected(time.time(), peer, bytes_in, bytes_out, reason))
            if cfg.once:
                done.set()

    server = await asyncio.start_server(handle, sock=sock, limit=STREAM_LIMIT)
    hint = "pigeon tcp connect {host} {port}"
    emit(listening(sock, protocol="tcp", bind=cfg.bind, hint=hint))
    async with server:
        await done.wait()
    return 0


class _StdinFeed:
    """Standard input shared by consecutive --raw clients: what one client did not take goes
    to the next. A read abandoned when its client leaves is kept (``shield``) for the next
    reader, so no chunk is lost and the stdin thread is never torn down mid-read."""

    def __init__(self) -> None:
        self._chunks = stdin_chunks()
        self._next: asyncio.Future[bytes | None] | None = None
        self.ended = False

    async def read(self) -> bytes | None:
        """The next chunk, or None at end of file."""
        if self.ended:
            return None
        if self._next is None:
            self._next = asyncio.ensure_future(anext(self._chunks, None))
        chunk = await asyncio.shield(self._next)
        self._next = None
        self.ended = chunk is None
        return chunk


def _end_stdout(fd: int) -> None:
    """Let the reader of ``fd`` see end of file (the only client has finished sending) while
    pigeon goes on: ``fd`` now leads to /dev/null."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class _StdoutFailed(Exception):
    """Writing the client's bytes to stdout failed (told apart from the socket's errors)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _stdout_stage(fd: int) -> Callable[[memoryview], None]:
    write = write_all_to(fd)

    def stage(chunk: memoryview) -> None:
        try:
            write(chunk)
        except OSError as exc:
            raise _StdoutFailed(exc) from exc

    return stage


async def _raw_session(
    conn: socket.socket, feed: _StdinFeed, *, peer: str, out_fd: int, once: bool
) -> tuple[int, int]:
    """One --raw client: its bytes to ``out_fd`` unchanged, stdin to it; each direction
    half-closes on its own. Returns (bytes in, bytes out).

    The client's end of stream ends its direction only (with ``once``, ``out_fd`` ends too);
    stdin goes on to the client until it ends, then pigeon shuts down its write side, unless
    stdin is a terminal (it never ends by itself: the session ends with the client's data).
    Raises:
        NetworkError (ConnectionLost, ...): the connection broke. BrokenPipeError: the reader
        of stdout left (``| head``: main ends quietly). LocalWriteError: stdout failed.
    """
    loop = asyncio.get_running_loop()
    # The stdin-to-client direction sends on a dup of the socket from the event loop while a
    # worker thread receives on the original (aio.bulk keeps that one in timeout mode, so the
    # shared descriptor stays non-blocking).
    out = conn.dup()
    out.setblocking(False)
    sent = 0

    async def upstream() -> None:
        nonlocal sent
        while (chunk := await feed.read()) is not None:
            await loop.sock_sendall(out, chunk)
            sent += len(chunk)
        try:
            out.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:  # the client has gone already: nothing to end
                raise

    up = asyncio.create_task(upstream())
    try:
        received = await receive_exactly(
            conn,
            UNTIL_CLOSED,
            [_stdout_stage(out_fd)],
            within=None,
            hand_over_after=RAW_HAND_OVER,
        )
        if once:
            _end_stdout(out_fd)
        if not up.done() and _stdin_is_terminal():
            up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await up
        return received, sent
    except _StdoutFailed as failed:
        if isinstance(failed.error, BrokenPipeError):
            raise failed.error from None
        raise LocalWriteError(f"standard output: {failed.error.strerror or failed.error}") from None
    except OSError as exc:
        raise connect_error(exc, proto="tcp", peer=peer) from exc
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await up
        out.close()


async def run_listen_raw(cfg: TcpListenConfig, emit: Emit, out_fd: int | None = None) -> int:
    """``tcp listen --raw``: a drop-in for ``nc -l PORT`` (``--once``) and ``nc -l -k PORT``.

    One client at a time (later ones wait in the listen backlog, as with ``nc -k``): its
    bytes go to stdout unchanged, stdin goes to it. With ``once`` the listening socket is
    closed as soon as the client is accepted, and a broken connection is the exit code.
    """
    fd = sys.stdout.fileno() if out_fd is None else out_fd
    sock = await bound_socket(cfg.bind, cfg.port, socket.SOCK_STREAM)
    hint = "pigeon tcp connect {host} {port} < FILE"
    emit(listening(sock, protocol="tcp", bind=cfg.bind, hint=hint))
    loop = asyncio.get_running_loop()
    feed = _StdinFeed()
    try:
        while True:
            conn, addr = await loop.sock_accept(sock)
            if cfg.once:
                sock.close()  # as nc -l: one client, the next is refused
            peer = peer_text(addr)
            emit(ClientConnected(time.time(), peer))
            bytes_in = bytes_out = 0
            error: PigeonError | None = None
            try:
                bytes_in, bytes_out = await _raw_session(
                    conn, feed, peer=peer, out_fd=fd, once=cfg.once
                )
            except LocalWriteError:
                raise
            except PigeonError as exc:  # the connection broke: said, and the next client
                error = exc
            finally:
                conn.close()
            reason = "" if error is None else str(error)
            emit(ClientDisconnected(time.time(), peer, bytes_in, bytes_out, reason))
            if cfg.once:
                if error is not None:
                    raise error
                return 0
    finally:
        sock.close()
