"""One HTTP/1.1 client connection: each request head written and each answer head read by
``proto.http.messages``; the body is framed here (Content-Length, chunked, or until close) so
its bytes go from the socket straight to the download's stages, off the event loop when there
are many of them.

A connection carries requests one after the other (keep-alive, for mirrors), the bytes that
followed the last body carried over to the next answer. Every wait is bounded by ``within``,
and so is a whole answer head; socket errors become pigeon's errors here, once: a timeout is
``TimedOut``, a connection closed or reset before or during an answer is ``ConnectionLost``
(never a parser's internal state), malformed framing is ``ProtocolError``.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pigeon import __version__
from pigeon.aio.bulk import Consume, receive_exactly, unexpected_bytes
from pigeon.aio.oserrors import lost, stalled
from pigeon.aio.sockets import resolve
from pigeon.aio.tcp import connect_socket
from pigeon.errors import ConnectionLost, ConnectionRefused, ProtocolError, TimedOut
from pigeon.proto.http.chunked import ChunkedReader, End, NeedData, Payload
from pigeon.proto.http.messages import (
    AnswerHead,
    Framing,
    keeps_open,
    parse_answer_head,
    request_head,
)
from pigeon.proto.http.messages import framing as answer_framing
from pigeon.proto.http.source import Source
from pigeon.proto.text import plural

READ_SIZE = 1 << 20
BULK_MIN = 1 << 20
"""A body part at least this long is received by ``aio.bulk`` (threads, large buffers);
shorter ones on the event loop, where a thread hand-off would cost more than it saves."""
UNTIL_CLOSE = 1 << 62
MAX_INTERIM = 8
"""1xx answers skipped before the real one (pigeon sends no ``Expect``; 103 Early Hints is
the one a server may send unasked): more is a server wasting the client's time."""
USER_AGENT = f"pigeon/{__version__}"


@dataclass(frozen=True, slots=True)
class Head:
    """An answer's status and fields (names lower-case; repeated fields joined by ``, ``)."""

    status: int
    headers: dict[str, str]
    framing: Framing
    length: int | None


@dataclass(frozen=True, slots=True)
class Body:
    """What a body brought: its byte count, trailer fields, and whether more bytes followed
    it on a connection that was to close (a body longer than announced)."""

    received: int
    trailers: dict[str, str]
    longer: bool


def in_turn(stages: Sequence[Consume]) -> Consume:
    """Every stage on ``data``, in order, on this thread."""

    def consume(data: memoryview) -> None:
        for stage in stages:
            stage(data)

    return consume


def _wake(ready: asyncio.Future[None]) -> None:
    """A reader's callback: the socket is readable. The waiter may be cancelled already (a
    timeout, Ctrl-C) while this call was queued in the same turn of the loop."""
    if not ready.done():
        ready.set_result(None)


def _shifted(progress: Callable[[int], None], start: int, n: int) -> None:
    progress(start + n)


class HttpChannel:
    """A TCP connection to one server, used for one request at a time."""

    def __init__(self, sock: socket.socket, key: tuple[str, int], within: float) -> None:
        self.sock = sock
        self.key = key
        self.within = within
        self.reusable = False
        self.heard = False  # any byte of an answer to the last request arrived
        self._buffer = b""
        self._eof = False
        self._keep_alive = False
        self._framing = Framing.NONE
        self._length: int | None = None
        self._label = ""

    @classmethod
    async def connect(cls, source: Source, within: float) -> HttpChannel:
        """Open a connection to ``source``'s server.

        Raises:
            UnknownHost, ConnectionRefused, NetworkUnreachable, TimedOut.
        """
        target = (await resolve(source.host, source.port, socket.SOCK_STREAM))[0]
        sock = await connect_socket(target, within)
        return cls(sock, (source.host, source.port), within)

    def usable(self) -> bool:
        """True when an idle kept-alive connection can carry another request: nothing
        unasked-for has arrived and the server has not closed it."""
        if self._buffer or self._eof:
            return False
        try:
            self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return True  # nothing to read: still open and quiet
        except OSError:
            return False
        return False  # bytes nobody asked for, or the server's close

    def close(self) -> None:
        """Close the socket."""
        self.reusable = False
        self.sock.close()

    # ----- errors ------------------------------------------------------------------------

    def _timed_out(self) -> TimedOut:
        return stalled(self._label, "the server", self.within)

    def _lost(self, exc: OSError | None = None, when: str = "mid-transfer") -> ConnectionLost:
        return lost(self._label, exc, when)

    def _bad(self, why: str) -> ProtocolError:
        return ProtocolError(f"{self._label}: bad answer from the server ({why})")

    async def _recv(self, *, timed: bool = True) -> bytes:
        """What the socket has, else what it gets within ``within`` (``timed``; otherwise
        the caller bounds the wait)."""
        try:
            # a body's next bytes are most often here already: take them without setting
            # up a wait (a timer and a reader registration per call)
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            data = await (self._wait_recv() if timed else self._readable_recv())
        except OSError as exc:
            raise self._lost(exc) from exc
        if not data:
            self._eof = True
        return data

    async def _wait_recv(self) -> bytes:
        try:
            async with asyncio.timeout(self.within):
                return await self._readable_recv()
        except TimeoutError:
            raise self._timed_out() from None

    async def _readable_recv(self) -> bytes:
        """Wait until the socket is readable, then read it (``loop.sock_recv`` would try
        once more before waiting, after ``_recv`` just did). The caller bounds the wait."""
        loop = asyncio.get_running_loop()
        fd = self.sock.fileno()
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            try:
                data = self.sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                continue  # woken without data (spurious): wait again
            except OSError as exc:
                raise self._lost(exc) from exc
            if not data:
                self._eof = True
            return data

    # ----- request and head --------------------------------------------------------------

    async def request(
        self,
        method: str,
        source: Source,
        headers: Sequence[tuple[str, str]],
        *,
        keep_alive: bool = False,
    ) -> Head:
        """Send a request and read the answer's head (1xx answers are skipped).

        Raises:
            ConnectionLost: the server closed or reset before the head was complete.
            TimedOut, ProtocolError, UsageError (a target or field that cannot be sent).
        """
        self._label = source.url
        self._keep_alive = keep_alive
        self.reusable = False
        self.heard = bool(self._buffer)
        fields = [
            ("Host", source.host_header),
            ("User-Agent", USER_AGENT),
            ("Accept-Encoding", "identity"),
            *([] if keep_alive else [("Connection", "close")]),
            *headers,
        ]
        await self._send(request_head(method, source.target, fields))
        try:
            # the whole head within the limit, not each read: a server dripping a line a
            # second would otherwise hold the download for as long as it likes (so the
            # reads below set no timer of their own)
            async with asyncio.timeout(self.within):
                answer = await self._final_head()
        except TimeoutError:
            raise TimedOut(
                f"{source.url}: the server sent no complete answer head within {self.within:g}s"
            ) from None
        try:
            framing, length = answer_framing(method, answer)
        except ProtocolError as exc:
            raise self._bad(str(exc)) from exc
        self._framing, self._length = framing, length
        self.reusable = keep_alive and keeps_open(answer) and framing is not Framing.CLOSE
        fields_in = answer.headers
        if length is not None and fields_in["content-length"] != str(length):
            fields_in = {**fields_in, "content-length": str(length)}  # "5, 5": one length
        return Head(answer.status, fields_in, framing, length)

    async def _final_head(self) -> AnswerHead:
        """The answer's head, past at most ``MAX_INTERIM`` 1xx answers."""
        for _ in range(MAX_INTERIM + 1):
            answer = await self._answer_head()
            if answer.status >= 200:
                return answer
            if answer.status == 101:
                raise self._bad("101 Switching Protocols, which pigeon did not ask for")
        raise self._bad(f"more than {MAX_INTERIM} interim (1xx) answers")

    async def _send(self, data: bytes) -> None:
        """All of ``data``, within ``within`` (at once when the socket takes it whole)."""
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise self._lost(exc, "before the answer") from exc
        if sent == len(data):
            return
        try:
            async with asyncio.timeout(self.within):
                await asyncio.get_running_loop().sock_sendall(self.sock, data[sent:])
        except TimeoutError:
            raise TimedOut(
                f"{self._label}: the server took no request for {self.within:g}s"
            ) from None
        except OSError as exc:
            raise self._lost(exc, "before the answer") from exc

    async def _answer_head(self) -> AnswerHead:
        """The next answer head, from what is buffered and then the socket (within the
        caller's limit for the whole head)."""
        searched = 0
        while True:
            try:
                answer = parse_answer_head(self._buffer, searched) if self._buffer else None
            except ProtocolError as exc:
                raise self._bad(str(exc)) from exc
            if answer is not None:
                self._buffer = self._buffer[answer.size :]
                return answer
            if self._eof:
                when = "before the answer was complete" if self._buffer else "before answering"
                raise self._lost(when=when)
            searched = len(self._buffer)
            self._buffer += await self._recv(timed=False)
            self.heard = bool(self._buffer)

    # ----- bodies ------------------------------------------------------------------------

    async def body(
        self, stages: Sequence[Consume], progress: Callable[[int], None] | None = None
    ) -> Body:
        """Receive the body of the answer whose head ``request`` returned into ``stages``.

        Returns:
            ``Body``; ``received`` short of Content-Length means the connection was lost
            (the caller says how far it got).

        Raises:
            TimedOut, ConnectionLost (a reset), ProtocolError (broken chunked framing),
            and whatever a stage raises (LocalWriteError).
        """
        if self._framing is Framing.NONE:
            return Body(0, {}, False)
        if self._framing is Framing.CHUNKED:
            return await self._chunked(stages, progress)
        want = self._length if self._framing is Framing.LENGTH else UNTIL_CLOSE
        assert want is not None
        got = await self._exactly(want, stages, progress, 0)
        longer = False
        if self._framing is Framing.LENGTH and not self._keep_alive and got == want:
            longer = bool(self._buffer) or unexpected_bytes(self.sock)
        if got != want and self._framing is Framing.LENGTH:
            self.reusable = False
        return Body(got, {}, longer)

    async def _exactly(
        self,
        want: int,
        stages: Sequence[Consume],
        progress: Callable[[int], None] | None,
        base: int,
    ) -> int:
        """``want`` bytes (or until the peer closes): the buffered ones, then the socket's."""
        consume = in_turn(stages)
        got = 0
        if self._buffer:
            piece, self._buffer = self._buffer[:want], self._buffer[want:]
            consume(memoryview(piece))
            got = len(piece)
            if progress is not None:
                progress(base + got)
        while got < want and not self._eof:
            left = want - got
            if left >= BULK_MIN:
                report = None
                if progress is not None:
                    report = functools.partial(_shifted, progress, base + got)
                try:
                    n = await receive_exactly(
                        self.sock, left, stages, within=self.within, progress=report
                    )
                except TimeoutError:
                    raise self._timed_out() from None
                except BrokenPipeError:
                    raise  # our own output (stdout) went away: main() handles it quietly
                except OSError as exc:  # a reset: even a body that ends at close is cut
                    raise self._lost(exc) from exc
                got += n
                if n < left:
                    self._eof = True
                break
            data = await self._recv()
            if not data:
                break
            if len(data) > left:
                data, self._buffer = data[:left], data[left:]
            consume(memoryview(data))
            got += len(data)
            if progress is not None:
                progress(base + got)
        return got

    async def _chunked(
        self, stages: Sequence[Consume], progress: Callable[[int], None] | None
    ) -> Body:
        reader = ChunkedReader()
        reader.feed(self._buffer)
        self._buffer = b""
        got = 0
        while True:
            try:
                step = reader.next()
            except ProtocolError as exc:
                self.reusable = False
                raise self._bad(str(exc)) from exc
            if isinstance(step, NeedData):
                data = await self._recv()
                if not data:
                    self._cut(got)
                reader.feed(data)
            elif isinstance(step, Payload):
                self._buffer = reader.take(step.size)
                n = await self._exactly(step.size, stages, progress, got)
                got += n
                if n < step.size:
                    self._cut(got)
                reader.feed(self._buffer)
                self._buffer = b""
                reader.payload_done()
            elif isinstance(step, End):
                self._buffer = reader.leftover()
                longer = not self._keep_alive and (
                    bool(self._buffer) or unexpected_bytes(self.sock)
                )
                return Body(got, step.trailers, longer)

    def _cut(self, got: int) -> NoReturn:
        self.reusable = False
        raise self._lost(when=f"after {plural(got, 'byte')} of the body")


class Connections:
    """Where attempts get their connection: a new one each time, or (``keep_alive``) one
    left open by an earlier answer to the same server."""

    def __init__(self, within: float, *, keep_alive: bool = False) -> None:
        self.within = within
        self.keep_alive = keep_alive
        self._idle: list[HttpChannel] = []

    def _idle_one(self, source: Source) -> HttpChannel | None:
        key = (source.host, source.port)
        for channel in self._idle:
            if channel.key == key:
                self._idle.remove(channel)
                if channel.usable():
                    return channel
                channel.close()  # the server closed it while idle (its keep-alive timeout)
                break
        return None

    async def ask(self, source: Source, headers: list[tuple[str, str]]) -> tuple[HttpChannel, Head]:
        """Send a GET for ``source`` and read the answer's head, on a kept-alive connection
        when there is one. A server may close an idle connection at any moment (RFC 9112
        section 9.3.1): when a kept-alive one is lost before its answer, the request goes
        once more on a new connection, as curl does (a GET is safe to repeat), instead of
        spending one of the download's retries."""
        channel = self._idle_one(source)
        if channel is None:
            channel = await HttpChannel.connect(source, self.within)
            return channel, await self._request(channel, source, headers)
        try:
            return channel, await self._request(channel, source, headers)
        except ConnectionLost as lost:
            if channel.heard:  # the server began to answer: a cut, for the retries to judge
                raise
            try:
                channel = await HttpChannel.connect(source, self.within)
            except ConnectionRefused as exc:  # the server went away: still a lost connection
                raise lost from exc
        return channel, await self._request(channel, source, headers)

    async def _request(
        self, channel: HttpChannel, source: Source, headers: list[tuple[str, str]]
    ) -> Head:
        try:
            return await channel.request("GET", source, headers, keep_alive=self.keep_alive)
        except BaseException:
            channel.close()
            raise

    def give_back(self, channel: HttpChannel) -> None:
        if self.keep_alive and channel.reusable:
            self._idle.append(channel)
        else:
            channel.close()

    def close(self) -> None:
        for channel in self._idle:
            channel.close()
        self._idle.clear()
