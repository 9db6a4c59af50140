"""The client's side of HTTP/1.1 heads (RFC 9112), sans I/O: a request head written as bytes,
an answer head read from bytes, and how the answer's body is framed.

Written here rather than through h11 because a mirror makes one exchange per small file and
h11's general state machine cost the client more than everything else it does per file; the
body's framing was already pigeon's own (``proto.http.chunked``, ``aio.http_client``). The reader
is strict where a lax one would be exploitable (conflicting lengths, unknown codings, fields
without a name, control characters, unbounded heads) and lenient where RFC 9112 allows it
(bare LF line ends, folded lines, any reason phrase).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pigeon.errors import ProtocolError, UsageError
from pigeon.proto.numbers import parse_count

MAX_HEAD = 64 * 1024


class Framing(enum.Enum):
    """How an answer's body is delimited."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class AnswerHead:
    """An answer's status line and fields (names lower-case; repeated ones joined by ``, ``),
    with ``size``: the bytes the head took, up to and including its empty line."""

    status: int
    version: str
    headers: dict[str, str]
    size: int


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# The whole head in one match (linear: every repetition starts on a distinct character).
# Values may hold control characters other than NUL, CR and LF (as h11 allows): messages
# escape them, and a redirect's Location is checked before use (proto.http.fetch.redirect_target).
_HEAD = re.compile(
    rb"HTTP/(1\.[0-9]) ([1-9][0-9][0-9])(?: [^\x00\r\n]*)?\r?\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00\r\n]*\r?\n|[ \t][^\x00\r\n]*\r?\n)*)\r?\n"
)
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] [1-9][0-9][0-9](?: [^\x00\r\n]*)?\r?\n")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")  # and beyond ASCII (isascii: a range to
# U+10FFFF takes milliseconds to compile, at every start)


def request_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """``method target HTTP/1.1`` and ``fields``, as bytes ready to send.

    Raises:
        UsageError: a target or field that would break the head (spaces or control
            characters in the target, line breaks in a value, a name that is no token).
    """
    if not target or not target.isascii() or _UNSAFE_TARGET.search(target):
        raise UsageError(f"cannot ask for {target!r}: not a request target")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in fields:
        if _TOKEN.fullmatch(name.encode("latin-1", "replace")) is None or _UNSAFE_VALUE.search(
            value
        ):
            raise UsageError(f"cannot send the field {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise UsageError("cannot send a field beyond Latin-1 (encode it first)") from None


def head_end(data: bytes | bytearray, searched: int = 0) -> int | None:
    """Where the head in ``data`` ends (just past its empty line), or None if not yet.
    ``searched``: how many bytes an earlier call already found no end in (a head that
    trickles in is not scanned from its start at every read).

    Raises:
        ProtocolError: no end within ``MAX_HEAD`` bytes.
    """
    end = data.find(b"\n\r\n", max(0, searched - 2), MAX_HEAD + 3)
    bare = data.find(b"\n\n", max(0, searched - 1), MAX_HEAD + 2 if end < 0 else end + 1)
    if bare >= 0:
        return bare + 2
    if end >= 0:
        return end + 3
    if len(data) > MAX_HEAD:
        raise ProtocolError(f"an answer head longer than {MAX_HEAD // 1024} KiB")
    return None


def parse_answer_head(data: bytes | bytearray, searched: int = 0) -> AnswerHead | None:
    """The answer head at the start of ``data``, or None when more bytes are needed
    (``searched`` as for ``head_end``).

    Raises:
        ProtocolError: a malformed head (the reason in a few words).
    """
    end = head_end(data, searched)
    if end is None:
        _check_status_line(data)  # a peer that is no HTTP server is told at its first line
        return None
    found = _HEAD.fullmatch(data, 0, end)
    if found is None:
        _check_status_line(data)  # which line is wrong: the status line, or a field
        raise ProtocolError("a malformed header line")
    headers: dict[str, str] = {}
    last = ""
    for line in found[3].decode("latin-1").split("\n")[:-1]:
        if line[0] in " \t":  # obs-fold: a recipient replaces it with a space
            if not last:
                raise ProtocolError("a malformed header line")
            headers[last] += " " + line.strip(" \t\r")
            continue
        name, _, value = line.partition(":")
        name = name.lower()
        value = value.strip(" \t\r")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
        last = name
    return AnswerHead(int(found[2]), found[1].decode("ascii"), headers, end)


def _check_status_line(data: bytes | bytearray) -> None:
    """Refuse an incomplete head whose first bytes already cannot start an answer."""
    first = data.find(b"\n")
    if first < 0:
        start = min(len(data), 7)
        if data[:start] != b"HTTP/1."[:start]:
            raise ProtocolError("a malformed status line")
    elif _STATUS_LINE.fullmatch(data, 0, first + 1) is None:
        raise ProtocolError("a malformed status line")


def framing(method: str, head: AnswerHead) -> tuple[Framing, int | None]:
    """How ``head``'s body is delimited, and its announced length (RFC 9112 section 6.3).

    Raises:
        ProtocolError: a coding other than chunked, or a Content-Length that is not one
            number of bytes (conflicting copies included).
    """
    headers = head.headers
    if method == "HEAD" or head.status in (204, 304) or head.status < 200:
        return Framing.NONE, None
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.strip(" \t").lower() != "chunked":
            raise ProtocolError(f"a transfer coding pigeon cannot read: {coding[:40]}")
        return Framing.CHUNKED, None
    given = headers.get("content-length")
    if given is None:
        return Framing.CLOSE, None
    copies = {part.strip(" \t") for part in given.split(",")}
    if len(copies) > 1:
        raise ProtocolError(f"Content-Lengths that disagree ({given[:40]})")
    length = parse_count(copies.pop())
    if length is None:
        raise ProtocolError("a Content-Length that is not a number of bytes")
    return Framing.LENGTH, length


def keeps_open(head: AnswerHead) -> bool:
    """True when the server will take another request on this connection. Not from an
    HTTP/1.0 server (its keep-alive is an extension pigeon does not offer), nor after an
    answer with both Transfer-Encoding and Content-Length: RFC 9112 section 6.3 calls that
    a possible response-splitting attempt, to be read by the coding and then closed."""
    headers = head.headers
    tokens = {t.strip(" \t").lower() for t in headers.get("connection", "").split(",")}
    if "transfer-encoding" in headers and "content-length" in headers:
        return False
    return head.version != "1.0" and "close" not in tokens
