"""proto.http.memo: which request heads may reuse an answer, and the LRU's bounds."""

from __future__ import annotations

import h11
import pytest

from pigeon.proto.http.memo import (
    MAX_HEAD,
    MAX_SEEN,
    SETTLED,
    Remembered,
    ResponseMemo,
    date_offset,
    head_qualifies,
)
from pigeon.proto.versions import settled

GET = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def parsed(raw: bytes) -> h11.Request:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, h11.Request), event
    return event


def entry(size: int, path: str = "/srv/a.txt") -> Remembered:
    return Remembered(path, (1, 2, size, 3, 4), b"x" * size, "GET", "/a.txt", 200, size)


def test_a_plain_get_and_head_qualify() -> None:
    assert head_qualifies(GET, parsed(GET))
    head = b"HEAD /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n"
    assert head_qualifies(head, parsed(head))


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET /a.txt HTTP/1.0\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
    ],
    ids=["post", "http10", "close", "keep-alive", "length", "chunked", "expect", "upgrade"],
)
def test_heads_that_change_the_connection_or_carry_a_body_do_not(raw: bytes) -> None:
    assert not head_qualifies(raw, parsed(raw))


def test_a_head_with_an_earlier_terminator_does_not() -> None:
    """h11 ends a head at a bare ``\\n\\n`` or ``\\n\\r\\n`` too: such bytes hold two requests."""
    request = parsed(GET)
    assert not head_qualifies(b"GET /a.txt HTTP/1.1\nHost: x\n\nGET / HTTP/1.1\r\n\r\n", request)
    assert not head_qualifies(b"GET /a.txt HTTP/1.1\r\nHost: x\n\r\nX: y\r\n\r\n", request)
    assert not head_qualifies(GET + GET, request)
    assert not head_qualifies(GET[:-2], request)  # incomplete


def test_an_oversized_head_does_not() -> None:
    raw = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * MAX_HEAD + b"\r\n\r\n"
    assert not head_qualifies(raw, parsed(raw))


def test_settled_needs_both_times_old_enough() -> None:
    now = 1_000_000.0
    old = int((now - SETTLED - 0.01) * 1e9)
    fresh = int((now - SETTLED / 2) * 1e9)
    assert settled(old, old, now, SETTLED)
    assert not settled(old, fresh, now, SETTLED)  # metadata changed a moment ago (chmod, utime)
    assert not settled(fresh, old, now, SETTLED)


def test_lru_keeps_the_most_recently_used_within_the_entry_bound() -> None:
    memo = ResponseMemo(max_entries=2, max_bytes=1 << 20)
    memo.put(b"a", entry(10))
    memo.put(b"b", entry(10))
    assert memo.get(b"a") is not None  # now the most recent
    memo.put(b"c", entry(10))
    assert memo.get(b"b") is None
    assert memo.get(b"a") is not None and memo.get(b"c") is not None
    assert len(memo) == 2
    assert memo.bytes == 2 * 11


def test_byte_bound_evicts_and_refuses_what_cannot_fit() -> None:
    memo = ResponseMemo(max_entries=100, max_bytes=100)
    memo.put(b"a", entry(40))
    memo.put(b"b", entry(40))
    memo.put(b"c", entry(40))  # 123 bytes with a and b: a goes
    assert memo.get(b"a") is None
    assert memo.bytes == 82
    memo.put(b"d", entry(200))  # larger than the whole bound: not kept, nothing evicted
    assert memo.get(b"d") is None and len(memo) == 2


def test_forget_and_replace_keep_the_byte_count_exact() -> None:
    memo = ResponseMemo()
    memo.put(b"a", entry(10))
    memo.put(b"a", entry(30))
    assert memo.bytes == 31 and len(memo) == 1
    memo.forget(b"a")
    memo.forget(b"a")
    assert memo.bytes == 0 and len(memo) == 0


def test_the_date_of_a_remembered_answer_is_rewritten_in_place() -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nServer: pigeon\r\nDate: Wed, 25 Nov 2026 17:00:00 GMT\r\n"
        b"Content-Length: 5\r\n\r\nDate: not a header"
    )
    at = date_offset(response)
    assert response[at : at + 29] == b"Wed, 25 Nov 2026 17:00:00 GMT"
    entry = Remembered("/x", (1, 2, 3, 4, 5), response, "GET", "/x", 200, 5, at)
    assert entry.dated(b"Wed, 25 Nov 2026 17:00:00 GMT") is entry  # same second: no copy
    later = entry.dated(b"Wed, 25 Nov 2026 17:00:01 GMT")
    assert later.response == response.replace(b"17:00:00", b"17:00:01")
    assert date_offset(b"HTTP/1.1 200 OK\r\n\r\nDate: body") == -1
    undated = Remembered("/x", (1, 2, 3, 4, 5), b"HTTP/1.1 200 OK\r\n\r\n", "GET", "/x", 200, 0)
    assert undated.dated(b"Wed, 25 Nov 2026 17:00:01 GMT") is undated


def test_a_head_is_remembered_only_when_asked_again() -> None:
    memo = ResponseMemo()
    assert not memo.asked_again(b"GET /a HTTP/1.1\r\n\r\n")  # a crawl's one ask: nothing kept
    assert not memo.asked_again(b"GET /b HTTP/1.1\r\n\r\n")
    assert memo.asked_again(b"GET /a HTTP/1.1\r\n\r\n")
    assert memo.asked_again(b"GET /a HTTP/1.1\r\n\r\n")


def test_the_heads_seen_once_are_bounded() -> None:
    memo = ResponseMemo()
    first = b"GET /first HTTP/1.1\r\n\r\n"
    memo.asked_again(first)
    for n in range(MAX_SEEN):  # the set starts over when full: its memory stays bounded
        memo.asked_again(b"GET /%d HTTP/1.1\r\n\r\n" % n)
    assert not memo.asked_again(first)
    assert memo.asked_again(first)
