"""``pigeon udp send`` and ``pigeon udp recv``: datagrams out and in, with nothing truncated."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator

from pigeon.aio.announce import listening
from pigeon.aio.datagram import DatagramChannel
from pigeon.aio.sockets import (
    bound_socket,
    broadcast_udp_socket,
    connected_udp_socket,
    peer_text,
    resolve,
)
from pigeon.aio.stdin import stdin_lines
from pigeon.config import UdpRecvConfig, UdpSendConfig
from pigeon.errors import TimedOut, UsageError
from pigeon.events import DatagramReceived, DatagramSent, Emit, Notice
from pigeon.proto.address import parse_destination_port
from pigeon.proto.datagram import check_payload_size
from pigeon.proto.text import encode_text, parse_hex


async def _stdin_payloads(cfg: UdpSendConfig) -> AsyncIterator[bytes]:
    """One payload per stdin line, converted from the terminal's charset to ``cfg.encoding``;
    a line that is not in the terminal's charset goes as it is (``printf '\xc4\xe3' |``:
    bytes already in the peer's charset, or binary)."""
    source = (sys.stdin.encoding or "utf-8") if sys.stdin else "utf-8"
    async for line in stdin_lines():
        try:
            text = line.decode(source)
        except UnicodeDecodeError:
            if cfg.hex_input:
                raise UsageError(f"standard input is not valid {source}") from None
            yield line
            continue
        yield parse_hex(text) if cfg.hex_input else encode_text(text, cfg.encoding)


async def _given_payloads(payloads: tuple[bytes, ...]) -> AsyncIterator[bytes]:
    for payload in payloads:
        yield payload


async def run_send(cfg: UdpSendConfig, emit: Emit) -> int:
    """Send the payloads (or stdin lines); with ``wait``, print replies until it passes.

    Returns:
        0; raises TimedOut when ``wait`` was asked for and no reply came.
    """
    parse_destination_port(cfg.port)  # a config made in Python meets the CLI's check
    target = (await resolve(cfg.host, cfg.port, socket.SOCK_DGRAM))[0]
    ipv6 = target.family == socket.AF_INET6
    if cfg.payloads is not None:
        for payload in cfg.payloads:
            check_payload_size(len(payload), ipv6=ipv6)
    if cfg.broadcast:
        sock = broadcast_udp_socket(target.family)
        dest: tuple[str, int] | None = (str(target.sockaddr[0]), int(target.sockaddr[1]))
    else:
        sock = await connected_udp_socket(target)
        dest = None
    channel = await DatagramChannel.open(sock, peer="" if cfg.broadcast else target.endpoint)
    replies = 0

    async def receive() -> None:
        nonlocal replies
        while (got := await channel.recv()) is not None:
            data, addr = got
            replies += 1
            emit(DatagramReceived(time.time(), peer_text(addr), data, cfg.reply_encoding))

    receiver = asyncio.create_task(receive()) if cfg.wait is not None else None
    try:
        source = _given_payloads(cfg.payloads) if cfg.payloads is not None else _stdin_payloads(cfg)
        async for payload in source:
            check_payload_size(len(payload), ipv6=ipv6)
            await channel.send(payload, dest)
            emit(DatagramSent(target.endpoint, len(payload)))
        if receiver is not None and cfg.wait is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(receiver), cfg.wait)
            if receiver.done():
                receiver.result()  # re-raise an ICMP error (connection refused) as such
            if replies == 0:
                raise TimedOut(f"no reply from {target.endpoint} within {cfg.wait:g}s")
    finally:
        if receiver is not None:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
        channel.close()
    return 0


async def run_recv(cfg: UdpRecvConfig, emit: Emit) -> int:
    """Receive datagrams on the bound port and report each; ``echo`` sends each one back."""
    sock = await bound_socket(cfg.bind, cfg.port, socket.SOCK_DGRAM)
    emit(
        listening(
            sock,
            protocol="udp",
            bind=cfg.bind,
            hint="pigeon udp send {host} {port} hello",
        )
    )
    channel = await DatagramChannel.open(sock)
    received = 0
    try:
        while cfg.count is None or received < cfg.count:
            got = await channel.recv()
            if got is None:
                break
            data, addr = got
            received += 1
            emit(DatagramReceived(time.time(), peer_text(addr), data, cfg.encoding))
            if cfg.echo:
                await channel.send(data, addr)
    finally:
        if channel.dropped:
            emit(Notice(f"{channel.dropped} datagrams dropped: they arrived faster than shown"))
        channel.close()
    return 0
