"""Fault injection for tests: a TCP proxy that cuts or corrupts, and scripted bad HTTP servers.

Both run on their own event loop in a daemon thread, on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.contextmanager
def tcp_server(handler: Handler, port: int = 0) -> Iterator[int]:
    """Run ``handler`` for each connection on 127.0.0.1:``port`` (0: any); yields the port."""
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", port, reuse_address=True)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await stop.wait()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def cutting_proxy(
    upstream: int,
    *,
    cut_every: int = 0,
    flip_at: int = -1,
    drip: float = 0.0,
    stall_at: int = -1,
    cut_first: int = 0,
) -> Handler:
    """A proxy to 127.0.0.1:``upstream`` that drops each connection after ``cut_every`` bytes
    from the server (0: never; with ``cut_first``, only the first that many connections),
    flips one bit of the byte at stream offset ``flip_at``, with
    ``drip`` relays 16 KiB then sleeps that many seconds (a slow link), and from stream offset
    ``stall_at`` on forwards nothing more while keeping the connection open (a stall)."""

    seen = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen[0] += 1
        cut = cut_every if not cut_first or seen[0] <= cut_first else 0
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            writer.close()
            return

        async def client_to_server() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    up_writer.write(data)
                    await up_writer.drain()
                up_writer.write_eof()  # the client is gone: so is the server's side, in time

        pump = asyncio.create_task(client_to_server())
        passed = 0
        try:
            while data := await up_reader.read(16384 if drip else 65536):
                if drip:
                    await asyncio.sleep(drip)
                if cut and passed + len(data) >= cut:
                    writer.write(data[: cut - passed])
                    await writer.drain()
                    break
                if 0 <= stall_at < passed + len(data):
                    writer.write(data[: max(0, stall_at - passed)])
                    await writer.drain()
                    await asyncio.sleep(3600)  # cancelled when the test ends
                if passed <= flip_at < passed + len(data):
                    i = flip_at - passed
                    data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
                writer.write(data)
                await writer.drain()
                passed += len(data)
        except OSError:
            pass
        finally:
            pump.cancel()
            up_writer.close()
            writer.close()

    return handle


def scripted_http(response: bytes, *, then_stall: float = 0.0) -> Handler:
    """A server that reads a request head, sends ``response`` verbatim, maybe stalls, closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(response)
                await writer.drain()
                if then_stall:
                    await asyncio.sleep(then_stall)
        finally:
            writer.close()

    return handle


def endless_headers() -> Handler:
    """A server whose response head never ends."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(100_000):
                    writer.write(b"X-Junk-%d: %s\r\n" % (i, b"j" * 100))
                    await writer.drain()
        finally:
            writer.close()

    return handle
