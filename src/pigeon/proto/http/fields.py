"""Small HTTP field helpers: ETags, HTTP dates, Repr-Digest values, q-less Accept checks, and
the reader of a peer's decimal number (``parse_count``, from ``proto.numbers``), shared by
both sides.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

# Re-exported: fetch, ranges and aio import the decimal reader from here.
from pigeon.proto.numbers import MAX_DIGITS as MAX_DIGITS
from pigeon.proto.numbers import parse_count as parse_count

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def make_etag(dev: int, ino: int, size: int, mtime_ns: int) -> str:
    """A strong ETag that changes whenever the file version changes."""
    return f'"{dev:x}-{ino:x}-{size:x}-{mtime_ns:x}"'


def http_date(ts: float) -> str:
    """IMF-fixdate, as Last-Modified and Date use (English names whatever the locale)."""
    t = datetime.fromtimestamp(int(ts), UTC)
    return (
        f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT"
    )


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch, or None when the date cannot be read."""
    from email.utils import parsedate_to_datetime  # 3-9 ms to import; one call per download

    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_matches(header: str, etag: str, *, strong: bool = False) -> bool:
    """Whether a list of entity tags (or ``*``) names ``etag``: weak comparison, as
    ``If-None-Match`` uses, or (``strong``) strong comparison, as ``If-Match`` does, where
    a weak tag never matches (RFC 9110 section 8.8.3.2)."""
    tags = [t.strip() for t in header.split(",")]
    if "*" in tags:
        return True
    if strong:
        return not etag.startswith("W/") and etag in tags
    return etag.removeprefix("W/") in {t.removeprefix("W/") for t in tags}


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
