"""The client's request heads and answer heads, as tables (no sockets)."""

from __future__ import annotations

import pytest

from pigeon.errors import ProtocolError, UsageError
from pigeon.proto.http.messages import (
    MAX_HEAD,
    AnswerHead,
    Framing,
    framing,
    keeps_open,
    parse_answer_head,
    request_head,
)


def test_a_request_head_is_the_request_line_and_fields() -> None:
    head = request_head("GET", "/a%20b", [("Host", "h:1"), ("Range", "bytes=5-")])
    assert head == b"GET /a%20b HTTP/1.1\r\nHost: h:1\r\nRange: bytes=5-\r\n\r\n"


@pytest.mark.parametrize(
    ("target", "fields"),
    [
        ("/a b", []),
        ("/a\r\nX: y", []),
        ("", []),
        ("/é", []),
        ("/", [("Host", "h\r\nX-Injected: 1")]),
        ("/", [("Bad Name", "v")]),
        ("/", [("", "v")]),
        ("/", [("Host", "\u4e2d")]),
    ],
)
def test_a_head_that_would_break_is_refused(target: str, fields: list[tuple[str, str]]) -> None:
    with pytest.raises(UsageError):
        request_head("GET", target, fields)


def test_an_answer_head_is_read_with_its_size() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc"
    head = parse_answer_head(data)
    assert head == AnswerHead(200, "1.1", {"content-length": "3", "x-a": "1, 2"}, len(data) - 3)


@pytest.mark.parametrize(
    "data",
    [b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nA: b\r\n", b"HTTP/1.1 200 OK\r\n\r"],
)
def test_an_incomplete_head_asks_for_more(data: bytes) -> None:
    assert parse_answer_head(data) is None


@pytest.mark.parametrize(
    ("data", "status", "headers"),
    [
        (b"HTTP/1.0 404 Not Found\n\n", 404, {}),  # bare LF line ends (RFC 9112 2.2)
        (b"HTTP/1.1 200\r\n\r\n", 200, {}),  # no reason phrase
        (b"HTTP/1.1 200 \xe4\xb8\xad\r\n\r\n", 200, {}),  # any reason phrase
        (b"HTTP/1.1 200 OK\r\nA:  x  \r\n\r\n", 200, {"a": "x"}),  # optional white space
        (b"HTTP/1.1 200 OK\r\nA: x\r\n  y\r\n\r\n", 200, {"a": "x y"}),  # obs-fold
        (b"HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n", 200, {"a": "x\x01y"}),  # escaped when shown
    ],
)
def test_lenient_where_the_rfc_allows(data: bytes, status: int, headers: dict[str, str]) -> None:
    head = parse_answer_head(data)
    assert head is not None
    assert (head.status, head.headers) == (status, headers)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"HTTP/2.0 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        (b"http/1.1 200 OK\r\n\r\n", "status line"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", "header line"),  # space before the colon
        (b"HTTP/1.1 200 OK\r\n: b\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n", "header line"),
        (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "header line"),
    ],
)
def test_malformed_heads_are_refused(data: bytes, what: str) -> None:
    with pytest.raises(ProtocolError, match=f"a malformed {what}"):
        parse_answer_head(data)


def test_a_bare_lf_head_followed_by_crlf_body_ends_at_its_own_empty_line() -> None:
    data = b"HTTP/1.0 200 OK\nContent-Length: 2\n\n\r\n"
    head = parse_answer_head(data)
    assert head is not None
    assert head.size == len(data) - 2
    assert head.headers == {"content-length": "2"}


def test_a_head_that_trickles_in_is_found_whatever_was_searched_before() -> None:
    data = b"HTTP/1.1 204 No Content\r\nA: b\r\n\r\nrest"
    whole = parse_answer_head(data)
    for cut in range(1, len(data) - 4):  # every place a read may have ended
        assert parse_answer_head(data[:cut]) is None or cut >= whole.size  # type: ignore[union-attr]
        assert parse_answer_head(data, searched=cut) == whole


def test_a_later_minor_version_is_read_as_http_1_1() -> None:
    head = parse_answer_head(b"HTTP/1.2 200 OK\r\n\r\n")
    assert head is not None
    assert keeps_open(head)


def test_a_head_without_end_is_refused_past_the_bound() -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: a\r\n" * (MAX_HEAD // 10 + 1)
    with pytest.raises(ProtocolError, match="longer than 64 KiB"):
        parse_answer_head(data)
    assert parse_answer_head(data[: MAX_HEAD - 100]) is None


def _head(status: int, version: str = "1.1", **fields: str) -> AnswerHead:
    return AnswerHead(status, version, {k.replace("_", "-"): v for k, v in fields.items()}, 0)


@pytest.mark.parametrize(
    ("method", "head", "expected"),
    [
        ("GET", _head(200, content_length="5"), (Framing.LENGTH, 5)),
        ("GET", _head(200, content_length="5, 5"), (Framing.LENGTH, 5)),
        ("GET", _head(200, transfer_encoding="chunked"), (Framing.CHUNKED, None)),
        (
            "GET",
            _head(200, transfer_encoding="Chunked", content_length="5"),
            (Framing.CHUNKED, None),
        ),
        ("GET", _head(200), (Framing.CLOSE, None)),
        ("HEAD", _head(200, content_length="5"), (Framing.NONE, None)),
        ("GET", _head(204, content_length="5"), (Framing.NONE, None)),
        ("GET", _head(304, content_length="5"), (Framing.NONE, None)),
    ],
)
def test_framing(method: str, head: AnswerHead, expected: tuple[Framing, int | None]) -> None:
    assert framing(method, head) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"content_length": "5, 6"},
        {"content_length": "-1"},
        {"content_length": "1" * 20},
        {"content_length": "0x10"},
        {"transfer_encoding": "gzip, chunked"},
        {"transfer_encoding": "identity"},
        {"transfer_encoding": "\x0bchunked"},  # only spaces and tabs are white space
        {"content_length": "\x0c5"},
    ],
)
def test_framing_that_cannot_be_trusted_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ProtocolError):
        framing("GET", _head(200, **fields))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_head(200), True),
        (_head(200, connection="Close"), False),
        (_head(200, connection="keep-alive, close"), False),
        (_head(200, "1.0"), False),
        (_head(200, "1.0", connection="keep-alive"), False),
        (_head(200, transfer_encoding="chunked", content_length="5"), False),  # RFC 9112 6.3
    ],
)
def test_keeps_open(head: AnswerHead, expected: bool) -> None:
    assert keeps_open(head) is expected


@pytest.mark.parametrize(
    "data", [b"SSH-2.0-OpenSSH_9.2\r\n", b"SSH", b"HTTP/2", b"HTTP/1.1 OK\n", b"\x16\x03\x01"]
)
def test_a_peer_that_is_no_http_server_is_refused_at_its_first_line(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="a malformed status line"):
        parse_answer_head(data)


@pytest.mark.parametrize(
    "data", [b"", b"H", b"HTTP/", b"HTTP/1.1 200", b"HTTP/1.1 200 OK\r", b"HTTP/1.1 200 OK\r\nA: b"]
)
def test_the_start_of_a_real_answer_asks_for_more(data: bytes) -> None:
    assert parse_answer_head(data) is None


def test_lengths_that_disagree_are_named_so() -> None:
    with pytest.raises(ProtocolError, match="Content-Lengths that disagree"):
        framing("GET", _head(200, content_length="5, 6"))
