"""What ``pigeon serve`` answers to one HTTP request: every decision, and no I/O.

``read_request`` reads a request's method, target and header fields into an ``Asked`` (the
path to look up and what the answer depends on), or gives the ``Plan`` at once when no file
system is needed: a method other than GET and HEAD (405), a name that can never be served
(400, 403, 414). The shell looks the path up and hands what it found to ``plan_response`` as
``Facts``: a file (its size, times, identity, type and known digest), a folder, or a name
missing or refused. The ``Plan`` holds the status, the header fields, the Content-Length
(None: none) and which body to send, one of a closed set (``Body``).

Two things are learnt only while answering, and each finishes a plan here too: a digest
found for a span (``with_digest``: a header, or a trailer when the body may be chunked) and
a folder page that cannot be made (``plan_response`` again with the new facts, or ``busy``).
``Server``, ``Date``, ``Connection`` and the framing (chunked or not) are the shell's and h11's.
Two answers come before h11 has a request: ``oversized`` (a complete head over the limit:
414 or 431) and ``over_limit`` (a connection beyond the server's: the whole 503 as bytes).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from pigeon.proto.http.fields import (
    etag_matches,
    http_date,
    make_etag,
    parse_http_date,
    repr_digest,
    wants_json,
)
from pigeon.proto.http.ranges import ByteRange, Unsatisfiable, parse_range
from pigeon.proto.remote_names import RefusedName, url_path_segments

REASONS = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    412: "Precondition Failed",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
TEXT = "text/plain; charset=utf-8"
ALLOW = "GET, HEAD"
Fields = tuple[tuple[str, str], ...]


class Found(enum.Enum):
    """What a request's path names, as the file system told the shell."""

    FILE = "file"
    FOLDER = "folder"
    MISSING = "missing"
    REFUSED = "refused"
    """There, but never served (outside the root, hidden, special, unreadable)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the shell learnt from the file system about a request's path."""

    found: Found
    size: int = 0
    mtime: float = 0.0
    mtime_ns: int = 0
    dev: int = 0
    ino: int = 0
    content_type: str = "application/octet-stream"
    digest: bytes | None = None
    """The file's SHA-256 when already known (looked up only when the request wants it)."""
    readable: bool = True
    """A folder's entries may be listed."""


MISSING = Facts(found=Found.MISSING)
REFUSED = Facts(found=Found.REFUSED)


@dataclass(frozen=True, slots=True)
class Asked:
    """A GET or HEAD request, read: the path to look up and what its answer depends on."""

    head: bool
    """HEAD: the answer's head alone."""
    segments: tuple[str, ...]
    query: str
    trailing: bool
    """The path ends with a slash (a folder's page is asked for as itself)."""
    raw_query: str
    """``?`` and the query as sent (empty without one): kept in a redirect's Location."""
    fields: dict[str, str]
    """Header fields by lower-case name (the last of repeated ones)."""
    chunked_ok: bool
    """A GET over HTTP/1.1: its body may be chunked (for a digest trailer)."""

    @property
    def wants_digest(self) -> bool:
        """The answer should carry the file's digest (RFC 9530): the shell looks for one."""
        return "want-repr-digest" in self.fields


@dataclass(frozen=True, slots=True)
class NoBody:
    """Nothing after the head (HEAD, 304, a folder page's head)."""


@dataclass(frozen=True, slots=True)
class Text:
    """A short text body (errors, redirects)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FileRange:
    """``count`` bytes of the file from ``offset``."""

    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class ListingBody:
    """The folder's page (its length unknown: sent in pieces), JSON or HTML, with digests."""

    path: str
    as_json: bool
    digests: bool


Body = NoBody | Text | FileRange | ListingBody
NO_BODY = NoBody()


@dataclass(frozen=True, slots=True)
class DigestAsk:
    """The request wants the digest of a file whose digest is not known yet: the shell finds
    one for the span (``with_digest``); a trailer is allowed when the body may be chunked."""

    offset: int
    count: int
    size: int
    trailer_ok: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """One answer: status, fields (framing aside), Content-Length (None: none), body."""

    status: int
    fields: Fields
    length: int | None
    body: Body = NO_BODY
    digest: DigestAsk | None = None

    @property
    def reason(self) -> str:
        """The status line's reason phrase."""
        return REASONS.get(self.status, "")


def status_text(status: int) -> bytes:
    """The short body of an error answer: ``404 Not Found``."""
    return f"{status} {REASONS.get(status, 'Error')}\n".encode()


def _text(status: int, head: bool, fields: Fields = (), body: bytes | None = None) -> Plan:
    """A text answer (its Content-Length said also to HEAD, which gets no body)."""
    data = status_text(status) if body is None else body
    return Plan(
        status, (("Content-Type", TEXT), *fields), len(data), NO_BODY if head else Text(data)
    )


def outcome_status(found: Found) -> int:
    """HTTP's name for a name not served (the tutorial protocol's log uses it too)."""
    return 404 if found is Found.MISSING else 403


def busy(head: bool) -> Plan:
    """The answer when folder pages in flight hold too many entries already."""
    return _text(503, head, body=b"server busy: too many folder pages in flight\n")


def over_limit(date: bytes) -> bytes:
    """The whole answer to a connection beyond the server's limit (written without h11, then
    the connection closes): 503, try again."""
    body = b"server busy, try again\n"
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nDate: " + date + b"\r\n"
        b"Content-Type: " + TEXT.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )


def oversized(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], limit: int
) -> int | None:
    """The status for a request head over ``limit`` bytes: 414 for its target alone, 431."""
    if len(target) > limit:
        return 414
    head = len(method) + len(target) + sum(len(k) + len(v) + 4 for k, v in headers)
    return 431 if head > limit else None


def read_request(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], http_version: bytes
) -> Asked | Plan:
    """What a request asks for, or the plan when it needs no look at the file system."""
    if method not in (b"GET", b"HEAD"):
        return _text(405, False, (("Allow", ALLOW),))
    head = method == b"HEAD"
    try:
        segments, query, trailing = url_path_segments(target)
    except RefusedName as exc:
        return _text(exc.status, head)
    _, mark, raw_query = target.partition(b"?")
    return Asked(
        head=head,
        segments=tuple(segments),
        query=query,
        trailing=trailing,
        raw_query=(mark + raw_query).decode("latin-1"),
        fields={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers},
        chunked_ok=not head and http_version == b"1.1",
    )


def plan_response(asked: Asked, facts: Facts) -> Plan:
    """The answer to ``asked`` given what its path names."""
    if facts.found is Found.FILE:
        return _file(asked, facts)
    if facts.found is Found.FOLDER:
        return _folder(asked, facts)
    return _text(outcome_status(facts.found), asked.head)


def _folder(asked: Asked, facts: Facts) -> Plan:
    if not asked.trailing and asked.segments:
        # built from the decoded segments, never echoed: "//host" would be a
        # protocol-relative Location (an open redirect)
        location = "/" + "".join(quote(seg, safe="") + "/" for seg in asked.segments)
        return _text(301, asked.head, (("Location", location + asked.raw_query),))
    if not facts.readable:
        return _text(403, asked.head)
    if_match = asked.fields.get("if-match")
    if if_match is not None and if_match.strip() != "*":
        return _text(412, asked.head)  # a page has no ETag: no tag names it (nginx: 412)
    as_json = wants_json(asked.fields.get("accept"), asked.query)
    kind = "application/json" if as_json else "text/html; charset=utf-8"
    page: Fields = (("Content-Type", kind), ("Cache-Control", "no-cache"))
    if asked.head:  # the head of the page, without listing the folder
        return Plan(200, page, None)
    path = "/" + "".join(s + "/" for s in asked.segments)
    digests = as_json and "digest=sha-256" in asked.query.split("&")
    return Plan(200, page, None, ListingBody(path, as_json, digests))


def _precondition_failed(fields: dict[str, str], etag: str, mtime: float) -> bool:
    """If-Match (when sent, it alone decides: strong comparison, ``*`` matches), else
    If-Unmodified-Since (a date that is not one is ignored), as RFC 9110 section 13.2.2
    orders them: a client about to act on the version it saw learns it is gone."""
    if_match = fields.get("if-match")
    if if_match is not None:
        return not etag_matches(if_match, etag, strong=True)
    ius = fields.get("if-unmodified-since")
    if ius is None:
        return False
    since = parse_http_date(ius)
    return since is not None and int(mtime) > since


def _not_modified(fields: dict[str, str], etag: str, mtime: float) -> bool:
    """If-None-Match (when sent, it alone decides), else If-Modified-Since."""
    inm = fields.get("if-none-match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = fields.get("if-modified-since")
    if ims is None:
        return False
    since = parse_http_date(ims)
    return since is not None and int(mtime) <= since


def _range_header(fields: dict[str, str], etag: str, mtime: float) -> str | None:
    """The Range to honour: none when an If-Range names another version (strong ETag
    comparison, or a date that is not the file's to the second)."""
    range_header = fields.get("range")
    if_range = fields.get("if-range")
    if range_header is None or if_range is None:
        return range_header
    if if_range.startswith(('"', 'W/"')):
        return range_header if if_range == etag else None
    since = parse_http_date(if_range)
    return range_header if since is not None and int(mtime) == int(since) else None


def _file(asked: Asked, facts: Facts) -> Plan:
    size = facts.size
    etag = make_etag(facts.dev, facts.ino, size, facts.mtime_ns)
    common: Fields = (
        ("ETag", etag),
        ("Last-Modified", http_date(facts.mtime)),
        ("Accept-Ranges", "bytes"),
    )
    fields = asked.fields
    if asked.trailing:  # "file.txt/" names a folder that is not there (nginx: 404 too)
        return _text(404, asked.head)
    if _precondition_failed(fields, etag, facts.mtime):
        return _text(412, asked.head, common[:2])  # the version there now: ETag, date
    if _not_modified(fields, etag, facts.mtime):
        return Plan(304, common, None)  # no Content-Length: it would have to be the 200's
    want_digest = asked.wants_digest
    if want_digest and facts.digest is not None:
        common += (("Repr-Digest", repr_digest(facts.digest)),)
    try:
        byte_range = parse_range(_range_header(fields, etag, facts.mtime), size)
    except Unsatisfiable:
        text = b"416 Range Not Satisfiable\n"
        answer_fields = (*common, ("Content-Range", f"bytes */{size}"), ("Content-Type", TEXT))
        return Plan(416, answer_fields, len(text), NO_BODY if asked.head else Text(text))
    return _span(asked, facts, common, byte_range, want_digest and facts.digest is None)


def _span(
    asked: Asked, facts: Facts, common: Fields, byte_range: ByteRange | None, ask: bool
) -> Plan:
    """The 200 or 206 of a file, with its digest still to find when ``ask``."""
    ctype = ("Content-Type", facts.content_type)
    extra: Fields
    if byte_range is None:
        status, offset, count, extra = 200, 0, facts.size, (ctype,)
    else:
        status, offset, count = 206, byte_range.start, byte_range.length
        extra = (ctype, ("Content-Range", byte_range.content_range()))
    body: Body = NO_BODY if asked.head else FileRange(offset, count)
    digest = DigestAsk(offset, count, facts.size, asked.chunked_ok and count > 0) if ask else None
    return Plan(status, (*common, *extra), count, body, digest)


def digest_trailer(digest: bytes) -> list[tuple[str, str]]:
    """The trailer of an answer whose digest was hashed alongside its body."""
    return [("Repr-Digest", repr_digest(digest))]


def with_digest(plan: Plan, digest: bytes | None, trailer: bool) -> Plan:
    """``plan`` with the digest found for it: a header, or (``trailer``, the digest hashed
    alongside the send) the size as a header, the digest as a trailer and no Content-Length.
    The new fields go where a known digest's would (after Accept-Ranges)."""
    ask = plan.digest
    assert ask is not None, "only a plan that asks for a digest gets one"
    added: Fields
    if digest is not None:
        added = (("Repr-Digest", repr_digest(digest)),)
    elif trailer and ask.trailer_ok:
        added = (("Repr-Length", str(ask.size)), ("Trailer", "Repr-Digest"))
    else:
        return replace(plan, digest=None)
    at = next(i for i, (name, _) in enumerate(plan.fields) if name == "Accept-Ranges") + 1
    fields = (*plan.fields[:at], *added, *plan.fields[at:])
    length = None if digest is None else plan.length
    return replace(plan, fields=fields, length=length, digest=None)
