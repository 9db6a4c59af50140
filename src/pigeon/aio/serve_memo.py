"""``pigeon serve``'s fast lane: remembered answers sent straight from the read callback.

``proto.http.memo`` decides which request heads and answers qualify. Here is its one seam
with the HTTP loop: while a connection waits idle for its next request, the loop reads
through ``RememberedAnswers.idle_read``, which opens the connection's ``Lane``. Complete
request heads that arrive then are answered in the read callback itself when a remembered
answer fits them (one ``stat``, one write: no h11, no task switch); the first byte that does
not fit goes on to the HTTP loop, in order. After the loop answers a small file whole, to a
head asked before, ``remember`` may keep that answer for the same head.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import cast

import h11

from pigeon.aio.serve_io import AccessLog, ServeClock, read_some
from pigeon.proto.http.memo import SETTLED, Remembered, ResponseMemo, date_offset, head_qualifies
from pigeon.proto.versions import Version, settled

WRITE_HIGH = 256 << 10
"""Remembered answers are written straight from the read callback only while the client keeps
up: beyond this much unsent, the connection's task takes over and waits for the client."""


def version_of(st: os.stat_result) -> Version:
    """What ties a remembered answer to one version of a file (see proto.http.memo)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Lane(asyncio.StreamReaderProtocol):
    """A connection's protocol: a StreamReader's, with the fast lane's hook in front.

    While ``answer`` is set, each read goes to it first; what it leaves goes to the reader
    (and closes the lane until the connection's task opens it again).
    """

    answer: Callable[[Lane, bytes], bytes] | None = None
    last_active = 0.0
    """When the lane last answered (the loop's clock): idle time counts from there."""
    peer = "-"
    transport: asyncio.Transport | None = None
    loop_time: Callable[[], float]
    """The event loop's clock (set once connected)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.loop_time = asyncio.get_running_loop().time
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.answer is not None:
            data = self.answer(self, data)
            if not data:
                return
            self.answer = None
        super().data_received(data)


class RememberedAnswers:
    """The answers remembered by one ``pigeon serve``, and the lane that sends them."""

    def __init__(self, clock: ServeClock, log: AccessLog) -> None:
        self.memo = ResponseMemo()
        self.clock = clock
        self.log = log
        self.closed = False
        """Set when the server stops: nothing more is answered from memory."""

    async def idle_read(
        self, reader: asyncio.StreamReader, lane: Lane, idle_timeout: float
    ) -> bytes:
        """Wait for the next request with the fast lane open; idle time counts from the last
        answer the lane gave, so a connection busy with remembered answers stays open.

        Returns what the lane left for h11. Raises TimeoutError once idle for too long.
        """
        loop = asyncio.get_running_loop()
        lane.last_active = loop.time()
        while True:
            remaining = lane.last_active + idle_timeout - loop.time()
            if remaining <= 0:
                raise TimeoutError
            lane.answer = self.answer
            try:
                return await read_some(reader, remaining)
            except TimeoutError:
                continue  # re-checked against the lane's last answer above
            finally:
                lane.answer = None

    def asked_again(self, head: bytes) -> bool:
        """Whether an answer to ``head`` may be remembered: it was asked before."""
        return self.memo.asked_again(head)

    def answer(self, lane: Lane, data: bytes) -> bytes:
        """Answer the complete, remembered request heads at the start of ``data``.

        Called from the read callback while the connection is idle. Returns what is left for
        the connection's task (h11): from the first head that is incomplete, unknown, or whose
        file changed; or everything once the client stops reading its answers.
        """
        transport = lane.transport
        while data:
            if self.closed or transport is None or transport.is_closing():
                return data
            if transport.get_write_buffer_size() > WRITE_HIGH:
                return data
            end = data.find(b"\r\n\r\n") + 4
            if end < 4:
                return data
            head = data if end == len(data) else data[:end]
            entry = self.memo.get(head)
            if entry is None:
                return data
            start = time.perf_counter()
            try:
                st = os.stat(entry.path)  # noqa: PTH116 (hot path: no Path object per hit)
            except OSError:
                self.memo.forget(head)
                return data
            if version_of(st) != entry.version:
                self.memo.forget(head)
                return data
            dated = entry.dated(self.clock.date())
            if dated is not entry:  # the second changed: remembered with the new date
                self.memo.put(head, dated)
            transport.write(dated.response)
            lane.last_active = lane.loop_time()
            self.log(
                lane.peer, entry.method, entry.target, entry.status, entry.body_bytes, start, True
            )
            data = data[end:]
        return data

    def remember(
        self,
        raw: bytes,
        req: h11.Request,
        st: os.stat_result,
        path: str,
        response: bytes,
        sent: int,
    ) -> None:
        """Remember a small file's whole answer (``response``, ``sent`` body bytes) for the
        request head ``raw``, when both qualify (``st``: the file as it was answered from)."""
        if not head_qualifies(raw, req) or not settled(
            st.st_mtime_ns, st.st_ctime_ns, self.clock.wall(), SETTLED
        ):
            return
        self.memo.put(
            raw,
            Remembered(
                path=path,
                version=version_of(st),
                response=response,
                method=req.method.decode("ascii"),
                target=req.target.decode("utf-8", "replace"),
                status=int(response[9:12]),
                body_bytes=sent,
                date_at=date_offset(response),
            ),
        )
