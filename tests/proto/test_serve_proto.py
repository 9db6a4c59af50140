"""Sans-I/O pieces of pigeon serve: classifier, ranges, remote names, listings, HTTP fields."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.proto.classify import Protocol, classify
from pigeon.proto.http.fields import (
    etag_matches,
    http_date,
    make_etag,
    parse_http_date,
    repr_digest,
    wants_json,
)
from pigeon.proto.http.listing import (
    Listing,
    ListingEntry,
    ListingPage,
    render_html,
    render_json,
)
from pigeon.proto.http.ranges import ByteRange, Unsatisfiable, parse_range
from pigeon.proto.remote_names import RefusedName, legacy_name_segments, url_path_segments


@pytest.mark.parametrize("request_bytes", [b"GET / HTTP/1.1\r\n", b"HEAD /x HTTP/1.0\r\n"])
def test_classifier_fed_one_byte_at_a_time(request_bytes: bytes) -> None:
    method_end = request_bytes.index(b" ") + 1
    for cut in range(1, len(request_bytes) + 1):
        got = classify(request_bytes[:cut])
        assert got is (Protocol.HTTP if cut >= method_end else Protocol.NEED_MORE), cut


@pytest.mark.parametrize("data", [b"a.txt", b"GETX", b"get / HTTP/1.1", b"\x00", "中".encode()])
def test_classifier_legacy(data: bytes) -> None:
    assert classify(data) is Protocol.LEGACY


def test_classifier_needs_bytes() -> None:
    assert classify(b"") is Protocol.NEED_MORE


@given(st.binary(max_size=64))
def test_classifier_total(data: bytes) -> None:
    assert isinstance(classify(data), Protocol)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, ByteRange(0, 0, 10)),
        ("bytes=2-", 10, ByteRange(2, 9, 10)),
        ("bytes=-3", 10, ByteRange(7, 9, 10)),
        ("bytes=-30", 10, ByteRange(0, 9, 10)),
        ("bytes=5-100", 10, ByteRange(5, 9, 10)),
        ("bytes=5-4", 10, None),
        ("bytes=0-1,3-4", 10, None),
        ("items=0-1", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=-", 10, None),
        ("bytes=١-٢", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=10-", 10), ("bytes=0-0", 0), ("bytes=-0", 10), ("bytes=99-100", 10)],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_content_range() -> None:
    assert ByteRange(5, 9, 10).content_range() == "bytes 5-9/10"
    assert ByteRange(5, 9, 10).length == 5


@given(st.text(max_size=30), st.integers(min_value=0, max_value=10**12))
def test_parse_range_total(header: str, size: int) -> None:
    try:
        got = parse_range(header, size)
    except Unsatisfiable:
        return
    if got is not None:
        assert 0 <= got.start <= got.end < size


def test_url_path_segments() -> None:
    assert url_path_segments(b"/a%20b/%E4%B8%AD.txt?x=1") == (["a b", "中.txt"], "x=1", False)
    assert url_path_segments(b"/sub/") == (["sub"], "", True)
    assert url_path_segments(b"/") == ([], "", True)
    assert url_path_segments(b"//a//b") == (["a", "b"], "", False)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/../etc/passwd", 403),
        (b"/%2e%2e/x", 403),
        (b"/a/./b", 403),
        (b"/a%5cb", 403),
        (b"/a%00b", 403),
        (b"/%1b[31m", 403),
        (b"/a%7Fb", 403),  # DEL: a control character inside ASCII
        (b"/%01", 403),
        (b"/a%E2%80%8Eb", 403),  # U+200E, a format character
        (b"/a%ED%A0%80b", 400),  # a surrogate: not UTF-8
        (b"/C:/x", 403),
        (b"/%ff", 400),
        (b"*", 400),
        (b"http://x/", 400),
        (b"/" + b"a" * 300, 414),
        (b"/" + b"a/" * 3000, 414),
    ],
)
def test_url_path_segments_refuse(target: bytes, status: int) -> None:
    with pytest.raises(RefusedName) as info:
        url_path_segments(target)
    assert info.value.status == status


def test_legacy_names() -> None:
    assert legacy_name_segments(b"a.txt") == ["a.txt"]
    assert legacy_name_segments(b"sub/b.txt\r\n") == ["sub", "b.txt"]
    assert legacy_name_segments("中文.txt".encode()) == ["中文.txt"]
    for bad in (b"", b"/etc/passwd", b"../x", b"~root", b"\xff", b"a" * 1025, b"a\\..\\b", b"/"):
        with pytest.raises(RefusedName):
            legacy_name_segments(bad)


@given(st.binary(max_size=200))
def test_remote_names_never_yield_traversal(data: bytes) -> None:
    def from_url(d: bytes) -> list[str]:
        return url_path_segments(b"/" + d)[0]

    for parse in (legacy_name_segments, from_url):
        try:
            segments = parse(data)
        except RefusedName:
            continue
        for seg in segments:
            assert seg not in ("", ".", "..") and "/" not in seg and "\\" not in seg
            assert "\x00" not in seg
            assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in seg)


def test_listing_renders() -> None:
    entries = [ListingEntry("sub", True, 0, 0.0), ListingEntry('a "<b>" 中.txt', False, 2048, 0.0)]
    page = render_html("/x/", entries).decode()
    assert '<a href="../">../</a>' in page
    assert '<a href="a%20%22%3Cb%3E%22%20%E4%B8%AD.txt">a &quot;&lt;b&gt;&quot; 中.txt</a>' in page
    assert "2.0 KiB" in page and "<script" not in page
    doc = json.loads(render_json("/x/", entries))
    assert doc["entries"][1] == {
        "name": 'a "<b>" 中.txt',
        "type": "file",
        "size": 2048,
        "mtime": 0.0,
    }
    assert "../" not in render_html("/", entries).decode()
    assert "dot_files" not in doc  # a server that lists dot-files says nothing of them


def test_a_json_listing_says_when_the_server_leaves_dot_files_out() -> None:
    page = ListingPage("/", as_json=True, dot_files=False)
    listing = Listing((ListingEntry("a.txt", False, 1, 0.0),), 1)
    doc = json.loads(page.start() + page.rows(listing.entries) + page.end(listing))
    assert doc["dot_files"] is False and [e["name"] for e in doc["entries"]] == ["a.txt"]
    html = ListingPage("/", as_json=False, dot_files=False)
    assert b"dot" not in html.start() + html.rows(listing.entries) + html.end(listing)


def test_http_fields() -> None:
    tag = make_etag(1, 2, 3, 4)
    assert tag == '"1-2-3-4"'
    assert etag_matches(f'"x", {tag}', tag) and etag_matches("*", tag)
    assert etag_matches(f"W/{tag}", tag) and not etag_matches('"y"', tag)
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert parse_http_date("Thu, 01 Jan 1970 00:00:10 GMT") == 10
    assert parse_http_date("not a date") is None
    assert repr_digest(bytes(32)) == "sha-256=:" + "A" * 43 + "=:"
    assert wants_json("application/json, */*", "") and wants_json(None, "format=json&x")
    assert not wants_json("text/html,application/json", "") and not wants_json(None, "")


@given(st.floats(min_value=0, max_value=253402300799, allow_nan=False))
def test_http_date_is_imf_fixdate_as_the_standard_library_writes_it(ts: float) -> None:
    from email.utils import formatdate

    assert http_date(ts) == formatdate(ts, usegmt=True)
    assert parse_http_date(http_date(ts)) == int(ts)


def test_classifier_recognises_ip_messenger_file_requests() -> None:
    from pigeon.proto.classify import Protocol, classify

    assert classify(b"1_iptux 0.8.3:5:root:vm:96:6a:0:0") is Protocol.IPMSG  # GETFILEDATA
    assert classify(b"1:5:u:h:98:6a:1\0") is Protocol.IPMSG  # GETDIRFILES
    assert classify(b"1:5:u:h:%d:6a:0:0" % (0x60 | 0x200000)) is Protocol.IPMSG  # +FILEATTACHOPT
    assert classify(b"1_iptux 0.8.3:5:ro") is Protocol.NEED_MORE  # could still become one
    assert classify(b"1:5:u:h:32:hello") is Protocol.LEGACY  # a SENDMSG is no file request
    assert classify(b"1.txt\n") is Protocol.LEGACY
    assert classify(b"notes.txt") is Protocol.LEGACY
