"""The framing of a chunked HTTP/1.1 response body (RFC 9112 section 7.1), sans-I/O.

h11 parses every response head; this reader takes over for a chunked body so the payload
bytes can go from the socket straight into the download's buffers (``aio.bulk``) instead of
being copied through h11's buffer event by event: a verified download must run at hash speed.
It only frames: it says how many payload bytes come next, or that the body ended and with
which trailer fields. Every line is bounded; sizes are hexadecimal of at most 16 digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.errors import ProtocolError

MAX_LINE = 4096
"""A chunk-size line with its extensions, or one trailer field line."""
MAX_TRAILERS = 16 << 10
"""All trailer field lines together."""
MAX_SIZE_DIGITS = 16
_HEX = frozenset(b"0123456789abcdefABCDEF")
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class Payload:
    """The next ``size`` bytes are body payload (then call ``payload_done``)."""

    size: int


@dataclass(frozen=True, slots=True)
class End:
    """The body is complete; ``trailers`` are its trailer fields, names lower-cased."""

    trailers: dict[str, str]


@dataclass(frozen=True, slots=True)
class NeedData:
    """More bytes are needed before anything can be said."""


NEED_DATA = NeedData()


class ChunkedReader:
    """Feed bytes with ``feed``; ``next`` says what they are.

    Between a ``Payload`` and ``payload_done`` the caller consumes exactly ``size`` payload
    bytes itself: from ``take`` (what is already buffered) and then from the socket.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = "size"  # size | payload | crlf | trailers | done
        self._trailers: dict[str, str] = {}
        self._trailer_bytes = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes."""
        self._buf += data

    def take(self, limit: int) -> bytes:
        """Up to ``limit`` buffered payload bytes (during a ``Payload``)."""
        assert self._state == "payload"
        out = bytes(self._buf[:limit])
        del self._buf[:limit]
        return out

    def payload_done(self) -> None:
        """The caller has consumed the payload announced by the last ``Payload``."""
        assert self._state == "payload"
        self._state = "crlf"

    def leftover(self) -> bytes:
        """Bytes received after the end of the body (the next response, on keep-alive)."""
        return bytes(self._buf)

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_LINE:
                raise ProtocolError("chunked body: a framing line longer than 4096 bytes")
            return None
        if end > MAX_LINE:
            raise ProtocolError("chunked body: a framing line longer than 4096 bytes")
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    def next(self) -> Payload | End | NeedData:
        """What comes next in the body.

        Raises:
            ProtocolError: the framing is broken.
        """
        while True:
            if self._state == "crlf":
                line = self._line()
                if line is None:
                    return NEED_DATA
                if line:
                    raise ProtocolError("chunked body: a chunk longer than its size line says")
                self._state = "size"
            elif self._state == "size":
                line = self._line()
                if line is None:
                    return NEED_DATA
                digits = line.split(b";", 1)[0].strip(b" \t")
                if not digits or len(digits) > MAX_SIZE_DIGITS or not _HEX.issuperset(digits):
                    raise ProtocolError("chunked body: a chunk size that is not a hex number")
                size = int(digits, 16)
                if size == 0:
                    self._state = "trailers"
                    continue
                self._state = "payload"
                return Payload(size)
            elif self._state == "trailers":
                line = self._line()
                if line is None:
                    return NEED_DATA
                if not line:
                    self._state = "done"
                    return End(dict(self._trailers))
                self._trailer_bytes += len(line)
                if self._trailer_bytes > MAX_TRAILERS:
                    raise ProtocolError("chunked body: trailer fields larger than 16 KiB")
                name, colon, value = line.partition(b":")
                if not colon or not name or not _TOKEN.issuperset(name):
                    raise ProtocolError("chunked body: a malformed trailer field")
                key = name.decode("ascii").lower()
                text = value.strip(b" \t").decode("latin-1")
                self._trailers[key] = (
                    f"{self._trailers[key]}, {text}" if key in self._trailers else text
                )
            elif self._state == "done":
                return End(dict(self._trailers))
            else:  # payload: the caller must consume it first
                raise AssertionError("next() during a payload")
