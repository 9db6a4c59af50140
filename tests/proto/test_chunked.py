"""proto.http.chunked: the framing of a chunked body, fed whole and one byte at a time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.errors import ProtocolError
from pigeon.proto.http.chunked import MAX_LINE, ChunkedReader, End, NeedData, Payload


def read_all(wire: bytes, step: int) -> tuple[bytes, dict[str, str], bytes]:
    """Body, trailers and leftover, feeding ``step`` bytes at a time."""
    reader = ChunkedReader()
    body = bytearray()
    pos = 0
    while True:
        got = reader.next()
        if isinstance(got, NeedData):
            assert pos < len(wire), "ran out of input"
            reader.feed(wire[pos : pos + step])
            pos += step
        elif isinstance(got, Payload):
            need = got.size
            while need:
                piece = reader.take(need)
                if not piece:
                    reader.feed(wire[pos : pos + step])
                    pos += step
                    continue
                body += piece
                need -= len(piece)
            reader.payload_done()
        else:
            assert isinstance(got, End)
            return bytes(body), got.trailers, reader.leftover() + wire[pos:]


WIRE = (
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
    b"Repr-Digest: sha-256=:AA==:\r\nX-Other: a\r\nx-other: b\r\n\r\nNEXT"
)


@pytest.mark.parametrize("step", [1, 2, 7, len(WIRE)])
def test_body_trailers_and_leftover(step: int) -> None:
    body, trailers, leftover = read_all(WIRE, step)
    assert body == b"hello world"
    assert trailers == {"repr-digest": "sha-256=:AA==:", "x-other": "a, b"}
    assert leftover == b"NEXT"


@given(st.lists(st.binary(min_size=1, max_size=50), max_size=8), st.integers(1, 64))
def test_any_chunking_round_trips(chunks: list[bytes], step: int) -> None:
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    assert read_all(wire, step)[0] == b"".join(chunks)


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\n",  # not hex
        b"\r\n",  # empty size
        b"1" * 17 + b"\r\n",  # more than 16 hex digits
        b"-1\r\n",
        b"5\r\nhelloXX\r\n",  # payload longer than its size line
        b"0\r\nno colon here\r\n\r\n",
        b"0\r\nbad name: x\r\n\r\n",
        b"1" * (MAX_LINE + 2),  # a size line without end
    ],
)
def test_broken_framing_is_a_protocol_error(wire: bytes) -> None:
    reader = ChunkedReader()
    reader.feed(wire)
    with pytest.raises(ProtocolError):
        while True:
            got = reader.next()
            if isinstance(got, Payload):
                reader.take(got.size)
                reader.payload_done()
            elif isinstance(got, NeedData | End):
                break


def test_oversized_trailers_are_refused() -> None:
    reader = ChunkedReader()
    reader.feed(b"0\r\n" + b"X-A: " + b"a" * 4000 + b"\r\n")
    for _ in range(5):
        reader.feed(b"X-B: " + b"b" * 4000 + b"\r\n")
    with pytest.raises(ProtocolError, match="16 KiB"):
        reader.next()
