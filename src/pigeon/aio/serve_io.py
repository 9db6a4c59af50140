"""What every lane of ``pigeon serve`` shares: its clock, a bounded read, its access log.

The clock is injectable: the wall clock says when files are settled (``proto.versions``) and
what each ``Date`` says, so a test may run a server whose files look settled at once.
Deadlines (header, idle, legacy pauses) run on the event loop's own clock, ``loop.time()``,
which asyncio's timeouts use too: a test's loop may move it on. The access log is an event,
``RequestServed``, which the ui prints; nothing here writes to a terminal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pigeon.events import Emit, RequestServed
from pigeon.proto.http.fields import http_date

READ_SIZE = 65_536
"""The most one read takes from a connection (also its StreamReader's limit)."""


class ServeClock:
    """Wall-clock time for ``pigeon serve``, and the ``Date`` value made once a second (every
    answer carries it: RFC 9110 6.6.1 asks it of an origin server with a clock)."""

    __slots__ = ("second", "value", "wall")

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self.second = -1
        self.value = b""

    def date(self) -> bytes:
        """The ``Date`` header's value now."""
        second = int(self.wall())
        if second != self.second:
            self.second, self.value = second, http_date(second).encode("ascii")
        return self.value


async def read_some(reader: asyncio.StreamReader, within: float) -> bytes:
    """Up to ``READ_SIZE`` bytes, b"" at the end; raises TimeoutError after ``within`` s."""
    async with asyncio.timeout(within):
        return await reader.read(READ_SIZE)


class AccessLog:
    """One ``RequestServed`` per answer (none with ``quiet``), and the count of them all."""

    __slots__ = ("as_json", "clock", "emit", "quiet", "requests")

    def __init__(self, emit: Emit, clock: ServeClock, *, quiet: bool, as_json: bool) -> None:
        self.emit, self.clock = emit, clock
        self.quiet, self.as_json = quiet, as_json
        self.requests = 0

    def __call__(
        self,
        peer: str,
        method: str,
        path: str,
        status: int,
        sent: int,
        start: float,
        remembered: bool = False,
        cut: bool = False,
    ) -> None:
        """Log one answer begun at ``start`` (``time.perf_counter``).

        A ``cut`` answer ended before it was complete (client gone, file changed, server
        stopping); ``sent`` is what had been sent of its body and status 0 means no head.
        """
        self.requests += 1
        if self.quiet:
            return
        ms = (time.perf_counter() - start) * 1000
        self.emit(
            RequestServed(
                self.clock.wall(),
                peer,
                method,
                path,
                status,
                sent,
                ms,
                remembered,
                cut,
                self.as_json,
            )
        )
