"""proto.http.respond: every answer ``pigeon serve`` gives, decided without a socket or a file.

Each row is a request (method, target, header fields, HTTP version) and what the file system
said of its path (``Facts``), and the answer it must get: status, the fields that matter and
which body. The rows are today's behaviour, as the interop tests see it over real sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pigeon.proto.http.fields import http_date, make_etag, repr_digest
from pigeon.proto.http.respond import (
    MISSING,
    REFUSED,
    TEXT,
    Asked,
    Body,
    DigestAsk,
    Facts,
    FileRange,
    Found,
    ListingBody,
    NoBody,
    Plan,
    Text,
    busy,
    digest_trailer,
    outcome_status,
    over_limit,
    oversized,
    plan_response,
    read_request,
    status_text,
    with_digest,
)

MTIME_NS = 1_700_000_000_250_000_000
MTIME = MTIME_NS / 1e9
FILE = Facts(
    found=Found.FILE,
    size=100,
    mtime=MTIME,
    mtime_ns=MTIME_NS,
    dev=1,
    ino=2,
    content_type="text/plain; charset=utf-8",
)
EMPTY = Facts(found=Found.FILE, size=0, mtime=MTIME, mtime_ns=MTIME_NS, dev=1, ino=3)
FOLDER = Facts(found=Found.FOLDER)
UNREADABLE = Facts(found=Found.FOLDER, readable=False)
DIGEST = bytes(range(32))
KNOWN = Facts(
    found=Found.FILE, size=100, mtime=MTIME, mtime_ns=MTIME_NS, dev=1, ino=2, digest=DIGEST
)
ETAG = make_etag(1, 2, 100, MTIME_NS)
LAST_MODIFIED = http_date(MTIME)
PAST = "Thu, 01 Jan 1970 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
WANT = ("Want-Repr-Digest", "sha-256=1")
HTML = "text/html; charset=utf-8"


def plan(
    method: str = "GET",
    target: str = "/f.txt",
    headers: tuple[tuple[str, str], ...] = (),
    facts: Facts = FILE,
    version: bytes = b"1.1",
) -> Plan:
    """What serve answers: the request read, then (when it needs them) the facts applied."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    asked = read_request(method.encode(), target.encode(), raw, version)
    if isinstance(asked, Plan):
        return asked
    return plan_response(asked, facts)


@dataclass(frozen=True)
class Row:
    """One request and the answer it must get (``fields``: a subset, ``absent``: none of)."""

    status: int
    body: Body
    length: int | None
    fields: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    method: str = "GET"
    target: str = "/f.txt"
    headers: tuple[tuple[str, str], ...] = ()
    facts: Facts = FILE
    version: bytes = b"1.1"


def text(status: int) -> Text:
    return Text(status_text(status))


WHOLE = FileRange(0, 100)
NONE = NoBody()
FILE_FIELDS = {
    "ETag": ETAG,
    "Last-Modified": LAST_MODIFIED,
    "Accept-Ranges": "bytes",
    "Content-Type": "text/plain; charset=utf-8",
}
RANGE_ROWS = {
    "range first ten": Row(206, FileRange(0, 10), 10, {"Content-Range": "bytes 0-9/100"},
                           headers=(("Range", "bytes=0-9"),)),
    "range suffix": Row(206, FileRange(90, 10), 10, {"Content-Range": "bytes 90-99/100"},
                        headers=(("Range", "bytes=-10"),)),
    "range open end": Row(206, FileRange(95, 5), 5, {"Content-Range": "bytes 95-99/100"},
                          headers=(("Range", "bytes=95-"),)),
    "range past the end is cut": Row(206, FileRange(98, 2), 2,
                                     {"Content-Range": "bytes 98-99/100"},
                                     headers=(("Range", "bytes=98-1000"),)),
    "range malformed: whole file": Row(200, WHOLE, 100, absent=("Content-Range",),
                                       headers=(("Range", "bytes=a-b"),)),
    "range backwards: whole file": Row(200, WHOLE, 100, headers=(("Range", "bytes=5-4"),)),
    "range several: whole file": Row(200, WHOLE, 100, headers=(("Range", "bytes=0-1,5-6"),)),
    "range other unit: whole file": Row(200, WHOLE, 100, headers=(("Range", "items=0-1"),)),
    "range unsatisfiable": Row(416, Text(b"416 Range Not Satisfiable\n"), 26,
                               {"Content-Range": "bytes */100", "Content-Type": TEXT,
                                "ETag": ETAG}, headers=(("Range", "bytes=100-"),)),
    "range of an empty file": Row(416, Text(b"416 Range Not Satisfiable\n"), 26,
                                  {"Content-Range": "bytes */0"},
                                  headers=(("Range", "bytes=0-0"),), facts=EMPTY),
    "range zero suffix": Row(416, Text(b"416 Range Not Satisfiable\n"), 26,
                             headers=(("Range", "bytes=-0"),)),
    "range on HEAD": Row(206, NONE, 10, {"Content-Range": "bytes 0-9/100"}, method="HEAD",
                         headers=(("Range", "bytes=0-9"),)),
    "range unsatisfiable on HEAD": Row(416, NONE, 26, method="HEAD",
                                       headers=(("Range", "bytes=200-"),)),
    "if-range same etag": Row(206, FileRange(0, 2), 2,
                              headers=(("Range", "bytes=0-1"), ("If-Range", ETAG))),
    "if-range stale etag: whole file": Row(200, WHOLE, 100, absent=("Content-Range",),
                                           headers=(("Range", "bytes=0-1"),
                                                    ("If-Range", '"stale"'))),
    "if-range weak etag: whole file": Row(200, WHOLE, 100,
                                          headers=(("Range", "bytes=0-1"),
                                                   ("If-Range", "W/" + ETAG))),
    "if-range same date": Row(206, FileRange(0, 2), 2,
                              headers=(("Range", "bytes=0-1"), ("If-Range", LAST_MODIFIED))),
    "if-range other date: whole file": Row(200, WHOLE, 100,
                                           headers=(("Range", "bytes=0-1"), ("If-Range", PAST))),
    "if-range bad date: whole file": Row(200, WHOLE, 100,
                                         headers=(("Range", "bytes=0-1"), ("If-Range", "x"))),
    "if-range without range": Row(200, WHOLE, 100, headers=(("If-Range", ETAG),)),
}  # fmt: skip
ROWS = {
    "file": Row(200, WHOLE, 100, FILE_FIELDS, absent=("Content-Range", "Repr-Digest")),
    "file head": Row(200, NONE, 100, FILE_FIELDS, method="HEAD"),
    "empty file": Row(200, FileRange(0, 0), 0, facts=EMPTY),
    "file over HTTP/1.0": Row(200, WHOLE, 100, version=b"1.0"),
    "post": Row(405, text(405), 23, {"Allow": "GET, HEAD", "Content-Type": TEXT}, method="POST"),
    "delete": Row(405, text(405), 23, {"Allow": "GET, HEAD"}, method="DELETE"),
    "missing": Row(404, text(404), 14, {"Content-Type": TEXT}, facts=MISSING),
    "missing head": Row(404, NONE, 14, method="HEAD", facts=MISSING),
    "refused": Row(403, text(403), 14, facts=REFUSED),
    "dot-dot": Row(403, text(403), 14, target="/../etc/passwd"),
    "encoded dot-dot": Row(403, text(403), 14, target="/%2e%2e/x"),
    "not UTF-8": Row(400, text(400), 16, target="/%ff"),
    "a lone percent": Row(400, text(400), 16, target="/%"),
    "a percent without two hex digits": Row(400, text(400), 16, target="/a%2/b"),
    "a percent before a non-hex digit": Row(400, text(400), 16, target="/%zz.txt"),
    "an escaped percent": Row(200, WHOLE, 100, target="/100%25.txt"),
    "a percent in the query": Row(200, WHOLE, 100, target="/f.txt?x=%"),
    "not origin-form": Row(400, text(400), 16, target="*"),
    "segment too long": Row(414, text(414), 17, target="/" + "a" * 300),
    "dot-dot head": Row(403, NONE, 14, method="HEAD", target="/a/../b"),
    "folder without slash": Row(301, text(301), 22, {"Location": "/sub/", "Content-Type": TEXT},
                                target="/sub", facts=FOLDER),
    "folder without slash keeps the query": Row(301, text(301), 22, {"Location": "/sub/?x=1"},
                                                target="/sub?x=1", facts=FOLDER),
    "folder redirect never protocol-relative": Row(301, text(301), 22,
                                                   {"Location": "/evil.com/"},
                                                   target="//evil.com", facts=FOLDER),
    "folder redirect re-encodes": Row(301, text(301), 22, {"Location": "/a%20b/%E4%B8%AD/"},
                                      target="/a%20b/%E4%B8%AD", facts=FOLDER),
    "folder head without slash": Row(301, NONE, 22, method="HEAD", target="/sub", facts=FOLDER),
    "root page": Row(200, ListingBody("/", False, False), None,
                     {"Content-Type": HTML, "Cache-Control": "no-cache"},
                     absent=("ETag",), target="/", facts=FOLDER),
    "folder page": Row(200, ListingBody("/sub/深/", False, False), None, {"Content-Type": HTML},
                       target="/sub/%E6%B7%B1/", facts=FOLDER),
    "folder json by accept": Row(200, ListingBody("/sub/", True, False), None,
                                 {"Content-Type": "application/json"}, target="/sub/",
                                 headers=(("Accept", "application/json, */*"),), facts=FOLDER),
    "folder json by query": Row(200, ListingBody("/", True, False), None,
                                {"Content-Type": "application/json"}, target="/?format=json",
                                facts=FOLDER),
    "folder json with digests": Row(200, ListingBody("/", True, True), None,
                                    target="/?format=json&digest=sha-256", facts=FOLDER),
    "folder html never digests": Row(200, ListingBody("/", False, False), None,
                                     target="/?digest=sha-256", facts=FOLDER),
    "folder html when json is not first": Row(200, ListingBody("/", False, False), None,
                                              {"Content-Type": HTML}, target="/",
                                              headers=(("Accept", "text/html,application/json"),),
                                              facts=FOLDER),
    "folder head": Row(200, NONE, None, {"Content-Type": HTML}, method="HEAD", target="/sub/",
                       facts=FOLDER),
    "folder if-match": Row(412, text(412), 24, target="/sub/", facts=FOLDER,
                           headers=(("If-Match", '"x"'),)),
    "folder if-match star": Row(200, ListingBody("/sub/", False, False), None, target="/sub/",
                                facts=FOLDER, headers=(("If-Match", "*"),)),
    "folder unreadable": Row(403, text(403), 14, target="/sub/", facts=UNREADABLE),
    "folder unreadable head": Row(403, NONE, 14, method="HEAD", target="/sub/", facts=UNREADABLE),
    "if-none-match same": Row(304, NONE, None, {"ETag": ETAG, "Last-Modified": LAST_MODIFIED},
                              absent=("Content-Type",), headers=(("If-None-Match", ETAG),)),
    "if-none-match star": Row(304, NONE, None, headers=(("If-None-Match", "*"),)),
    "if-none-match weak": Row(304, NONE, None, headers=(("If-None-Match", f'"x", W/{ETAG}'),)),
    "if-none-match other": Row(200, WHOLE, 100, headers=(("If-None-Match", '"other"'),)),
    "if-none-match decides alone": Row(200, WHOLE, 100,
                                       headers=(("If-None-Match", '"other"'),
                                                ("If-Modified-Since", FUTURE))),
    "if-modified-since later": Row(304, NONE, None, headers=(("If-Modified-Since", FUTURE),)),
    "if-modified-since same second": Row(304, NONE, None,
                                         headers=(("If-Modified-Since", LAST_MODIFIED),)),
    "if-modified-since earlier": Row(200, WHOLE, 100, headers=(("If-Modified-Since", PAST),)),
    "if-modified-since unreadable": Row(200, WHOLE, 100, headers=(("If-Modified-Since", "x"),)),
    "not modified beats range": Row(304, NONE, None,
                                    headers=(("If-None-Match", ETAG), ("Range", "bytes=0-1"))),
    "not modified head": Row(304, NONE, None, method="HEAD", headers=(("If-None-Match", ETAG),)),
    "if-match same": Row(200, WHOLE, 100, headers=(("If-Match", ETAG),)),
    "if-match in a list": Row(200, WHOLE, 100, headers=(("If-Match", f'"x", {ETAG}'),)),
    "if-match star": Row(200, WHOLE, 100, headers=(("If-Match", "*"),)),
    "if-match other": Row(412, text(412), 24,
                          {"ETag": ETAG, "Last-Modified": LAST_MODIFIED, "Content-Type": TEXT},
                          absent=("Accept-Ranges", "Content-Range"),
                          headers=(("If-Match", '"other"'),)),
    "if-match weak never matches": Row(412, text(412), 24, headers=(("If-Match", "W/" + ETAG),)),
    "if-match decides alone": Row(200, WHOLE, 100, headers=(("If-Match", ETAG),
                                                            ("If-Unmodified-Since", PAST))),
    "if-unmodified-since earlier": Row(412, text(412), 24,
                                       headers=(("If-Unmodified-Since", PAST),)),
    "if-unmodified-since same second": Row(200, WHOLE, 100,
                                           headers=(("If-Unmodified-Since", LAST_MODIFIED),)),
    "if-unmodified-since later": Row(200, WHOLE, 100,
                                     headers=(("If-Unmodified-Since", FUTURE),)),
    "if-unmodified-since unreadable": Row(200, WHOLE, 100,
                                          headers=(("If-Unmodified-Since", "x"),)),
    "precondition before not modified": Row(412, text(412), 24,
                                            headers=(("If-Match", '"other"'),
                                                     ("If-None-Match", ETAG))),
    "precondition before range": Row(412, text(412), 24,
                                     headers=(("If-Match", '"other"'), ("Range", "bytes=0-1"))),
    "precondition failed head": Row(412, NONE, 24, method="HEAD",
                                    headers=(("If-Match", '"other"'),)),
    "a file named with a trailing slash": Row(404, text(404), 14, target="/f.txt/"),
    "a file named with a trailing slash head": Row(404, NONE, 14, method="HEAD",
                                                   target="/f.txt/"),
    "known digest wanted": Row(200, WHOLE, 100, {"Repr-Digest": repr_digest(DIGEST)},
                               headers=(WANT,), facts=KNOWN),
    "known digest not wanted": Row(200, WHOLE, 100, absent=("Repr-Digest",), facts=KNOWN),
    "known digest on a 416": Row(416, Text(b"416 Range Not Satisfiable\n"), 26,
                                 {"Repr-Digest": repr_digest(DIGEST)},
                                 headers=(WANT, ("Range", "bytes=500-")), facts=KNOWN),
    "no digest on a 304": Row(304, NONE, None, absent=("Repr-Digest",),
                              headers=(WANT, ("If-None-Match", ETAG)), facts=KNOWN),
    **RANGE_ROWS,
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_answer(row: Row) -> None:
    got = plan(row.method, row.target, row.headers, row.facts, row.version)
    assert (got.status, got.body, got.length) == (row.status, row.body, row.length)
    fields = dict(got.fields)
    assert len(fields) == len(got.fields), "a field named twice"
    assert {k: fields.get(k) for k in row.fields} == row.fields
    assert not set(row.absent) & set(fields)
    assert "Content-Length" not in fields and "Date" not in fields  # the shell's
    if row.status != 301:  # only a folder's name without its slash is sent elsewhere
        assert "Location" not in fields
    if WANT not in row.headers or row.facts.digest is not None:
        assert got.digest is None  # a digest is looked for only when wanted and not known


def test_fields_come_in_todays_order() -> None:
    """The order the answers were built in before the plan (remembered answers compare
    byte for byte, and curl -D shows it)."""
    assert plan().fields == (
        ("ETag", ETAG),
        ("Last-Modified", LAST_MODIFIED),
        ("Accept-Ranges", "bytes"),
        ("Content-Type", "text/plain; charset=utf-8"),
    )
    assert plan(headers=(("Range", "bytes=0-9"),)).fields[-2:] == (
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Range", "bytes 0-9/100"),
    )
    assert [k for k, _ in plan(headers=(WANT, ("Range", "bytes=900-")), facts=KNOWN).fields] == [
        "ETag",
        "Last-Modified",
        "Accept-Ranges",
        "Repr-Digest",
        "Content-Range",
        "Content-Type",
    ]
    assert plan("PUT").fields == (("Content-Type", TEXT), ("Allow", "GET, HEAD"))
    folder = plan(target="/sub", facts=FOLDER).fields
    assert folder == (("Content-Type", TEXT), ("Location", "/sub/"))


@pytest.mark.parametrize(
    ("method", "target", "version", "ask"),
    [
        ("GET", "/f.txt", b"1.1", DigestAsk(0, 100, 100, True)),
        ("GET", "/f.txt", b"1.0", DigestAsk(0, 100, 100, False)),  # no chunks: no trailer
        ("HEAD", "/f.txt", b"1.1", DigestAsk(0, 100, 100, False)),  # no body: no trailer
    ],
)
def test_an_unknown_digest_is_asked_for(
    method: str, target: str, version: bytes, ask: DigestAsk
) -> None:
    got = plan(method, target, (WANT,), version=version)
    assert got.digest == ask and "Repr-Digest" not in dict(got.fields)


def test_a_range_asks_for_its_span_and_an_empty_body_never_for_a_trailer() -> None:
    assert plan(headers=(WANT, ("Range", "bytes=10-19"))).digest == DigestAsk(10, 10, 100, True)
    assert plan(headers=(WANT,), facts=EMPTY).digest == DigestAsk(0, 0, 0, False)
    assert plan().digest is None  # not wanted
    assert plan(headers=(WANT,), facts=KNOWN).digest is None  # already known


def test_a_digest_found_becomes_a_header_after_accept_ranges() -> None:
    asked = plan(headers=(WANT,))
    found = with_digest(asked, DIGEST, trailer=False)
    assert found.digest is None and found.length == 100 and found.body == WHOLE
    assert [k for k, _ in found.fields] == [
        "ETag",
        "Last-Modified",
        "Accept-Ranges",
        "Repr-Digest",
        "Content-Type",
    ]
    assert dict(found.fields)["Repr-Digest"] == repr_digest(DIGEST)


def test_a_digest_hashed_alongside_is_a_trailer_and_the_length_goes() -> None:
    followed = with_digest(plan(headers=(WANT,)), None, trailer=True)
    assert followed.length is None  # chunked: the trailer follows the last chunk
    assert followed.fields[3:5] == (("Repr-Length", "100"), ("Trailer", "Repr-Digest"))
    ranged = with_digest(plan(headers=(WANT, ("Range", "bytes=10-19"))), None, trailer=True)
    assert dict(ranged.fields)["Repr-Length"] == "100"  # the whole file's, not the range's
    assert digest_trailer(DIGEST) == [("Repr-Digest", repr_digest(DIGEST))]


def test_no_digest_found_leaves_the_plan_as_it_was() -> None:
    asked = plan(headers=(WANT,))
    same = with_digest(asked, None, trailer=False)
    assert (same.fields, same.length, same.body, same.digest) == (
        asked.fields,
        100,
        WHOLE,
        None,
    )
    head = plan("HEAD", headers=(WANT,))  # a trailer is never put on a bodiless answer
    assert with_digest(head, None, trailer=True).length == 100


@pytest.mark.parametrize("found", list(Found))
def test_every_kind_of_path_has_an_answer(found: Found) -> None:
    asked = read_request(b"GET", b"/x/", [], b"1.1")
    assert isinstance(asked, Asked)
    # a file asked for as a folder ("/x/") is not there: 404, as nginx answers
    want = {Found.FILE: 404, Found.FOLDER: 200, Found.MISSING: 404, Found.REFUSED: 403}
    assert plan_response(asked, Facts(found=found)).status == want[found]
    plain = read_request(b"GET", b"/x", [], b"1.1")
    assert isinstance(plain, Asked)
    want = {Found.FILE: 200, Found.FOLDER: 301, Found.MISSING: 404, Found.REFUSED: 403}
    assert plan_response(plain, Facts(found=found)).status == want[found]


def test_what_was_asked() -> None:
    asked = read_request(
        b"GET", b"/a%20b/c/?format=json&x=%E4%B8%AD", [(b"Accept", b"text/html")], b"1.1"
    )
    assert asked == Asked(
        head=False,
        segments=("a b", "c"),
        query="format=json&x=中",
        trailing=True,
        raw_query="?format=json&x=%E4%B8%AD",
        fields={"accept": "text/html"},
        chunked_ok=True,
    )
    assert not asked.wants_digest
    head = read_request(b"HEAD", b"/", [(b"Want-Repr-Digest", b"sha-256=1")], b"1.1")
    assert isinstance(head, Asked) and head.wants_digest and not head.chunked_ok


def test_the_last_of_repeated_fields_counts() -> None:
    got = plan(headers=(("Range", "bytes=0-0"), ("Range", "bytes=1-1")))
    assert got.body == FileRange(1, 1)


def test_busy_and_outcomes() -> None:
    assert busy(False) == Plan(
        503,
        (("Content-Type", TEXT),),
        45,
        Text(b"server busy: too many folder pages in flight\n"),
    )
    assert busy(True).body == NONE and busy(True).length == 45
    assert outcome_status(Found.MISSING) == 404 and outcome_status(Found.REFUSED) == 403
    assert plan().reason == "OK" and plan("PUT").reason == "Method Not Allowed"
    assert Plan(599, (), None).reason == ""
    assert status_text(599) == b"599 Error\n"


def test_a_connection_over_the_limit_gets_a_whole_503() -> None:
    date = b"Wed, 25 Nov 2026 17:00:00 GMT"
    assert over_limit(date) == (
        b"HTTP/1.1 503 Service Unavailable\r\nDate: Wed, 25 Nov 2026 17:00:00 GMT\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\n"
        b"Connection: close\r\n\r\nserver busy, try again\n"
    )


@pytest.mark.parametrize(
    ("target", "headers", "status"),
    [
        (b"/" + b"a" * 96, [], None),  # GET and the target: exactly 100
        (b"/" + b"a" * 97, [], 431),
        (b"/" + b"a" * 100, [], 414),  # the target alone is over
        (b"/a", [(b"x", b"v" * 91)], 431),  # 3 + 2 + 1 + 91 + 4 > 100
        (b"/a", [(b"x", b"v" * 90)], None),
    ],
)
def test_oversized_heads(
    target: bytes, headers: list[tuple[bytes, bytes]], status: int | None
) -> None:
    assert oversized(b"GET", target, headers, 100) == status
