"""Accepting TCP connections under pressure, shared by ``pigeon serve`` and the chat's port.

When the process runs out of file descriptors, asyncio's accept loop already backs off (it
stops accepting for a second, then retries) but logs a traceback for every failed accept:
up to the backlog size each time, every second. ``AcceptPressure``, installed as the loop's
exception handler, turns each episode into one line and a count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pigeon.events import Notice

OUT_OF_FDS = (
    "out of file descriptors: new connections wait (accepting pauses and retries each second); "
    "raise the limit with ulimit -n"
)


EPISODE_GAP = 10.0
"""Seconds without a failed accept after which the next one is a new episode (said again)."""


class AcceptPressure:
    """Loop exception handler: EMFILE in asyncio's accept loop reported once an episode,
    not per try.

    ``emit`` gets the one ``Notice``; everything else goes to the loop's default handler.
    """

    def __init__(self, emit: Callable[[Notice], None]) -> None:
        self.emit = emit
        self.count = 0
        self.last = float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
            self.count += 1
            now = time.monotonic()
            if now - self.last > EPISODE_GAP:
                self.emit(Notice(OUT_OF_FDS))
            self.last = now
            return
        # asyncio's accept retries (scheduled a second after EMFILE, one per failed accept)
        # outlive server.close() and then find the socket closed: the server is stopping on
        # purpose, there is nothing to report
        retry = "Exception in callback BaseSelectorEventLoop._start_serving"
        if str(context.get("message", "")).startswith(retry) and isinstance(
            context.get("exception"), ValueError | OSError
        ):
            return
        loop.default_exception_handler(context)
