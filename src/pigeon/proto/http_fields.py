"""Small HTTP field helpers: ETags, HTTP dates, Repr-Digest values, q-less Accept checks."""

from __future__ import annotations

import base64
from email.utils import formatdate, parsedate_to_datetime


def make_etag(dev: int, ino: int, size: int, mtime_ns: int) -> str:
    """A strong ETag that changes whenever the file version changes."""
    return f'"{dev:x}-{ino:x}-{size:x}-{mtime_ns:x}"'


def http_date(ts: float) -> str:
    """IMF-fixdate, as Last-Modified and Date use."""
    return formatdate(ts, usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch, or None when the date cannot be read."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` semantics (weak comparison; ``*`` matches)."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


def repr_digest(sha256: bytes) -> str:
    """RFC 9530 ``Repr-Digest`` value for a SHA-256 digest."""
    return f"sha-256=:{base64.b64encode(sha256).decode('ascii')}:"


def wants_json(accept: str | None, query: str) -> bool:
    """True for ``?format=json`` or an Accept header that prefers application/json."""
    if "format=json" in query.split("&"):
        return True
    if not accept:
        return False
    first = accept.split(",")[0].split(";")[0].strip().lower()
    return first == "application/json"
