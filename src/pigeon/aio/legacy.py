"""Fetching a file with the tutorial's protocol: send its name, read until the server closes.

Nothing can be verified (no size, no digest) and nothing resumed, and zero bytes mean "missing
or empty": the protocol cannot tell them apart, so that is an error and no file is created.
The download itself takes ``aio.fetch``'s one path into a ``.part``, as ``pigeon get`` does.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from pigeon.aio.bulk import UNTIL_CLOSED, Consume, receive_exactly
from pigeon.aio.fetch import Landing, Received, fetch_into_part
from pigeon.aio.oserrors import lost, stalled
from pigeon.aio.sockets import resolve
from pigeon.aio.tcp import connect_socket
from pigeon.errors import HttpStatusError
from pigeon.events import DownloadResult, Emit, Notice, noticing
from pigeon.fs.sinks import destination, open_stream
from pigeon.proto.http.fetch import PartState
from pigeon.proto.http.source import Source


class LegacyReply:
    """The server's answer: bytes until it closes (``aio.fetch.Reply``)."""

    offset = 0
    total: int | None = None
    length: int | None = None
    record: PartState | None = None  # nothing to resume from: a cut cannot even be told
    expected: bytes | None = None
    restart: str | None = None
    modified: float | None = None

    def __init__(self, sock: socket.socket, origin: LegacyOrigin) -> None:
        self.sock = sock
        self.origin = origin

    async def receive(self, stages: Sequence[Consume], progress: Callable[[int], None]) -> Received:
        within = self.origin.within
        try:
            got = await receive_exactly(
                self.sock, UNTIL_CLOSED, stages, within=within, progress=progress
            )
        except TimeoutError:
            raise stalled(self.origin.label, "the server", within) from None
        except OSError as exc:
            raise lost(self.origin.label, exc) from exc
        if got == 0:
            raise HttpStatusError(
                f"{self.origin.label}: nothing came back for {self.origin.name!r}: missing or "
                "empty (the tutorial's protocol cannot tell which)",
                404,
            )
        return Received(got)

    def finish(self, *, ok: bool) -> None:
        self.sock.close()


class LegacyOrigin:
    """A file named ``name`` on a server speaking the tutorial's protocol."""

    who = "the server"

    def __init__(self, source: Source, name: str, within: float) -> None:
        self.source = source
        self.name = name
        self.within = within
        self.url = f"legacy://{source.host}:{source.port}/{name}"
        self.label = f"{source.host}:{source.port}"

    async def ask(self, have: int, saved: PartState | None) -> LegacyReply:
        target = (await resolve(self.source.host, self.source.port, socket.SOCK_STREAM))[0]
        self.label = target.endpoint
        sock = await connect_socket(target, self.within)
        try:
            async with asyncio.timeout(self.within):
                await asyncio.get_running_loop().sock_sendall(sock, self.name.encode("utf-8"))
        except TimeoutError:
            sock.close()
            raise stalled(self.label, "the server", self.within) from None
        except OSError as exc:
            sock.close()
            raise lost(self.label, exc, "before the answer") from exc
        return LegacyReply(sock, self)


async def download_legacy(
    source: Source,
    name: str,
    dest: str | Path | None,
    *,
    force: bool = False,
    stall_timeout: float = 30.0,
    emit: Emit | None = None,
) -> DownloadResult:
    """Fetch ``name`` from ``source``'s server with the tutorial's protocol.

    Raises:
        HttpStatusError (404): nothing came back. DestinationExists, NetworkError.
    """
    report: Emit = emit or (lambda _event: None)
    stream = open_stream(dest)
    final = None if stream else destination(Source(source.host, source.port, "/" + name), dest)
    into = Landing(final, stream, noticing(report), verify=False, force=force)
    try:
        result = await fetch_into_part(
            LegacyOrigin(source, name, stall_timeout), into, resume=False
        )
    finally:
        if stream is not None:
            stream.close()
    report(Notice("legacy protocol: the download cannot be verified (no size, no digest)"))
    return result
