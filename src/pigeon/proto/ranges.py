"""HTTP byte ranges (RFC 9110 section 14): one range per request, as most servers do.

``parse_range`` returns None to mean "serve the whole file" (no header, several ranges, or a
header it does not understand — all allowed by the RFC), a ``ByteRange``, or raises
``Unsatisfiable`` for a 416.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    """Interpret a ``Range`` header against a representation of ``size`` bytes."""
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if not first.isascii() or not last.isascii() or (first == "" and last == ""):
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid range: ignored, the whole file is served
    if start >= size:
        raise Unsatisfiable
    end = size - 1 if last == "" else int(last)
    return ByteRange(start, min(end, size - 1), size)
