"""The readers of a peer's numbers: decimal (``parse_count``, ``parse_decimal``) and hex
(``parse_hex``), each bounded and ASCII only.

Python's ``int`` is no parser for a peer's text: it takes any number of digits (and raises
past 4,300 decimal ones), ``0x``, ``_`` between digits, surrounding whitespace, and any
script's digits (full-width, Arabic-Indic). A peer's number passes through one of these
instead: they give None for anything but plain ASCII digits of bounded length.
"""

from __future__ import annotations

MAX_DIGITS = 19
"""Decimal digits of a length or offset: up to 9.2 EB (what fits a signed 64-bit off_t)."""
MAX_HEX_DIGITS = 16
"""Hex digits of a peer's number: 64 bits (IP Messenger's sizes, times, attributes, ids)."""
_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def parse_decimal(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """A non-negative decimal number of 1 to ``max_digits`` ASCII digits, nothing else (no
    sign, blanks or ``_``), else None.

    ``str.isdigit`` is not enough: it takes ``²`` and other digits ``int`` refuses."""
    if not text or len(text) > max_digits or not _DIGITS.issuperset(text):
        return None
    return int(text)


def parse_count(text: str | None) -> int | None:
    """A non-negative decimal number of at most ``MAX_DIGITS`` ASCII digits (surrounding
    blanks allowed, as HTTP allows them around a field value), else None:
    ``Content-Length``, a ``Range`` or ``Content-Range`` bound."""
    if text is None:
        return None
    return parse_decimal(text.strip(" \t"))


def parse_hex(text: str, max_digits: int = MAX_HEX_DIGITS) -> int | None:
    """A non-negative hex number of 1 to ``max_digits`` ASCII hex digits, nothing else (no
    ``0x``, sign, blanks or ``_``), else None."""
    if not text or len(text) > max_digits or not _HEX_DIGITS.issuperset(text):
        return None
    return int(text, 16)
