"""The decisions of a resumable, verified download, sans-I/O.

What to ask for when a ``.part`` is there (Range + If-Range with the ETag, or Last-Modified
when the server gave no ETag), how much of the ``.part`` a resume may build on, and what an
answer means: continue, start over (and why, in words a user can act on), or fail. Also the
bounded readers of the header values a download relies on (lengths, ranges, Repr-Digest):
a peer's number goes through ``http_fields.parse_count`` (at most 19 ASCII digits), never
Python's unbounded ``int``.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pigeon.errors import ProtocolError, UsageError
from pigeon.proto.http.fields import parse_count
from pigeon.proto.http.source import Source, resolve_location

REDIRECTS = frozenset((301, 302, 303, 307, 308))
MAX_LOCATION = 4096
"""The longest redirect target followed (pigeon serve's own request-target limit)."""


@dataclass(frozen=True, slots=True)
class PartState:
    """What the sidecar of a ``.part`` records: the URL and the validators of its answer."""

    url: str
    etag: str | None
    size: int | None
    last_modified: str | None = None


def parse_content_range(text: str | None) -> tuple[int, int, int | None] | None:
    """``bytes START-END/TOTAL`` (TOTAL may be ``*``) as (start, end, total), else None."""
    if text is None:
        return None
    unit, _, spec = text.strip().partition(" ")
    if unit.lower() != "bytes":
        return None
    span, _, whole = spec.strip().partition("/")
    first, dash, last = span.partition("-")
    start, end = parse_count(first), parse_count(last)
    total = None if whole.strip() == "*" else parse_count(whole)
    if not dash or start is None or end is None or end < start:
        return None
    if whole.strip() != "*" and (total is None or end >= total):
        return None
    return start, end, total


def parse_repr_digest(text: str | None) -> bytes | None:
    """The SHA-256 of an RFC 9530 ``Repr-Digest`` value (``sha-256=:BASE64:``), else None."""
    if not text or len(text) > 4096:
        return None
    for item in text.split(","):
        algo, _, value = item.strip().partition("=")
        value = value.strip()
        if algo.strip().lower() != "sha-256" or len(value) < 2:
            continue
        if not (value.startswith(":") and value.endswith(":")):
            continue
        try:
            digest = base64.b64decode(value[1:-1], validate=True)
        except (ValueError, binascii.Error):
            return None
        return digest if len(digest) == 32 else None
    return None


def redirect_target(current: Source, location: str) -> Source:
    """Where a redirect's ``Location`` leads from ``current``, checked before any use.

    Followed: an ``http://`` URL or a path (absolute or relative) on the same host, any
    port. Everything else is the server's mistake, said in one line: empty, longer than
    ``MAX_LOCATION``, spaces, controls or non-ASCII (RFC 3986 has none), another scheme, or
    another host (``//other`` too): a server on the LAN must not send ``pigeon get`` to a
    machine the user never named.

    Raises:
        ProtocolError: the location is not one to follow.
    """
    cut = "..." if len(location) > 120 else ""
    shown = f"'{location[:120].encode('unicode_escape').decode('ascii')}{cut}'"

    def refused(why: str) -> ProtocolError:
        return ProtocolError(f"{current.url}: the server redirected {why}")

    location = location.strip(" \t")
    if not location:
        raise refused("to an empty location")
    if len(location) > MAX_LOCATION:
        raise refused(f"to a location of {len(location):,} characters ({shown})")
    if not location.isascii() or not location.isprintable() or " " in location:
        raise refused(f"to a malformed location {shown}")
    try:
        urlsplit(location)
    except ValueError:  # urlsplit's own refusals ("http://[::1")
        raise refused(f"to a malformed location {shown}") from None
    try:
        target = resolve_location(current, location.partition("#")[0])
    except UsageError as exc:
        raise refused(f"to {shown}: {exc}") from None
    if target.host.lower() != current.host.lower():
        raise refused(f"to another host ({target.host}): not followed")
    return target


def resume_headers(state: PartState | None, have: int) -> list[tuple[str, str]]:
    """Range + If-Range for continuing ``have`` bytes, when the answer had a validator."""
    if state is None or have <= 0:
        return []
    # If-Range takes strong validators only (RFC 9110 13.1.5): never a weak ETag
    strong = state.etag if state.etag and not state.etag.startswith("W/") else None
    validator = strong or state.last_modified
    if validator is None:
        return []
    return [("Range", f"bytes={have}-"), ("If-Range", validator)]


def usable_length(have: int, size: int | None) -> int:
    """How much of a ``.part`` of ``have`` bytes a resume can build on (0: start over).

    A ``.part`` as long as the whole file (the run was stopped between the last write and
    the rename) keeps all but its last byte, so the resumed request still gets an answer and
    with it the digest that verifies the whole file. One longer than the file cannot be the
    file's beginning. The caller truncates the ``.part`` to the returned length.
    """
    if size is None or have < size:
        return have
    if have > size or have == 0:
        return 0
    return have - 1


class Verdict(enum.Enum):
    """What an answer to a download request means."""

    WHOLE = "whole"  # 200: the whole file follows (nothing was asked to resume)
    CONTINUE = "continue"  # 206 from the byte asked for
    RESTART_CHANGED = "changed"  # 200 to a resume: the file changed on the server
    RESTART_NO_RANGE = "no-range"  # 200 to a resume with the same validators: Range ignored
    RESTART_UNSATISFIABLE = "unsatisfiable"  # 416 to a resume: the .part cannot be continued
    REDIRECT = "redirect"
    STATUS_ERROR = "status"  # any other status: an error the user sees
    BAD_RANGE = "bad-range"  # 206 that is not the range asked for


@dataclass(frozen=True, slots=True)
class Answer:
    """A verdict with the byte the body starts at and the whole file's size when known."""

    verdict: Verdict
    offset: int = 0
    total: int | None = None


def judge(
    status: int, headers: Mapping[str, str], have: int, state: PartState | None, method: str = "GET"
) -> Answer:
    """Decide what an answer to a request (a resume when ``have`` > 0) means.

    ``headers`` are the answer's fields with lower-case names.
    """
    length = parse_count(headers.get("content-length"))
    if status in REDIRECTS and "location" in headers:
        return Answer(Verdict.REDIRECT)
    if status == 416 and have:
        return Answer(Verdict.RESTART_UNSATISFIABLE)
    if status == 206:
        found = parse_content_range(headers.get("content-range"))
        if found is None or found[0] != have or not have:
            return Answer(Verdict.BAD_RANGE)
        start, end, total = found
        if length is not None and length != end - start + 1:
            return Answer(Verdict.BAD_RANGE)
        if total is None or end != total - 1:
            return Answer(Verdict.BAD_RANGE)  # only "the rest" was asked for
        if state is not None and state.size is not None and total != state.size:
            return Answer(Verdict.RESTART_UNSATISFIABLE)  # another size: not the same file
        return Answer(Verdict.CONTINUE, have, total)
    if status != 200:
        return Answer(Verdict.STATUS_ERROR)
    total = length if "transfer-encoding" not in headers else None
    if total is None:
        total = parse_count(headers.get("repr-length"))
    if not have:
        return Answer(Verdict.WHOLE, 0, total)
    if state is not None and _same_version(headers, state):
        return Answer(Verdict.RESTART_NO_RANGE, 0, total)
    return Answer(Verdict.RESTART_CHANGED, 0, total)


def _same_version(headers: Mapping[str, str], state: PartState) -> bool:
    if state.etag is not None:
        return headers.get("etag") == state.etag
    return state.last_modified is not None and headers.get("last-modified") == state.last_modified


def restart_note(verdict: Verdict) -> str:
    """The one line a user reads when a resume starts over."""
    if verdict is Verdict.RESTART_NO_RANGE:
        return "the server cannot resume (no Range support); starting over"
    if verdict is Verdict.RESTART_UNSATISFIABLE:
        return "the partial download cannot be resumed; starting over"
    return "the file changed on the server; starting over"
