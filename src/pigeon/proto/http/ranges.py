"""HTTP byte ranges (RFC 9110 section 14): one range per request, as most servers do.

``parse_range`` returns None to mean "serve the whole file" (no header, several ranges, or a
header it does not understand — all allowed by the RFC), a ``ByteRange``, or raises
``Unsatisfiable`` for a 416. Its numbers are read by ``http_fields.parse_count`` (bounded, ASCII
digits only), so no header can make ``int`` raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.proto.http.fields import parse_count


class Unsatisfiable(Exception):
    """The range starts past the end of the representation: answer 416 ``bytes */size``."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive, out of ``size``."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    def content_range(self) -> str:
        """The ``Content-Range`` header value."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Interpret a ``Range`` header against a representation of ``size`` bytes.

    A header that is malformed (any bound that is not at most 19 ASCII digits: ``²``, a
    5,000-digit number) is ignored, as RFC 9110 14.2 allows: the whole file is served.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    start, end = parse_count(first), parse_count(last)
    if not dash or (first and start is None) or (last and end is None):
        return None
    if start is None:
        if end is None:
            return None
        if end == 0 or size == 0:  # a suffix of zero bytes, or any suffix of nothing
            raise Unsatisfiable
        return ByteRange(max(0, size - end), size - 1, size)
    if end is not None and end < start:
        return None  # invalid range: ignored, the whole file is served
    if start >= size:
        raise Unsatisfiable
    last_byte = size - 1 if end is None else min(end, size - 1)
    return ByteRange(start, last_byte, size)
