"""A peer's numbers: bounded ASCII readers, where ``int`` takes ``0x``, ``_``, blanks, other
scripts' digits and any length."""

from __future__ import annotations

import pytest

from pigeon.proto import numbers
from pigeon.proto.http import fields as http_fields
from pigeon.proto.numbers import parse_count, parse_decimal, parse_hex

HOSTILE = ["", "0x10", "0X10", "1_0", " 10", "10 ", "\t10", "+10", "-10", "１０", "١", "²", "1.0"]
"""Each of these ``int(x, 16)`` or ``int(x)`` takes (or raises on): never a number here."""


def test_hex_reads_plain_ascii_hex_of_either_case() -> None:
    assert parse_hex("0") == 0
    assert parse_hex("10") == 16
    assert parse_hex("aBcDeF") == 0xABCDEF
    assert parse_hex("f" * 16) == 2**64 - 1
    assert parse_hex("0" * 16) == 0


@pytest.mark.parametrize("text", HOSTILE)
def test_hex_refuses_what_int_would_take(text: str) -> None:
    assert parse_hex(text) is None


@pytest.mark.parametrize("text", ["1" * 17, "f" * 5000])
def test_hex_refuses_more_than_sixteen_digits(text: str) -> None:
    assert parse_hex(text) is None


@pytest.mark.parametrize("text", HOSTILE)
def test_decimal_refuses_what_int_would_take(text: str) -> None:
    assert parse_decimal(text) is None


def test_decimal_is_bounded_and_count_allows_http_blanks() -> None:
    assert parse_decimal("9" * 19) == 10**19 - 1
    assert parse_decimal("9" * 20) is None
    assert parse_decimal("9" * 5000) is None
    assert parse_decimal("12", max_digits=1) is None
    assert parse_count(" 10\t") == 10 and parse_count("1_0") is None and parse_count(None) is None


def test_parse_count_keeps_its_import_path() -> None:
    assert http_fields.parse_count is numbers.parse_count
    assert http_fields.MAX_DIGITS == numbers.MAX_DIGITS
