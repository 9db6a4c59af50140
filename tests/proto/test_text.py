"""Payload text: decoding never fails, control characters never reach the terminal raw."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.errors import InvalidHex, UsageError
from pigeon.proto.text import (
    check_encoding,
    decode_payload,
    display_line,
    encode_text,
    escape_controls,
    parse_hex,
)


def test_auto_prefers_utf8() -> None:
    decoded = decode_payload("你好 hello".encode())
    assert (decoded.text, decoded.encoding) == ("你好 hello", "utf-8")


def test_auto_falls_back_to_gb18030_for_gbk_peers() -> None:
    decoded = decode_payload("你好，世界".encode("gbk"))
    assert (decoded.text, decoded.encoding) == ("你好，世界", "gb18030")


def test_auto_shows_undecodable_bytes_as_hex() -> None:
    decoded = decode_payload(b"\xff\xfe\x80\x00")
    assert (decoded.text, decoded.encoding) == ("ff fe 80 00", "hex")


def test_explicit_encoding_falls_back_to_hex_instead_of_raising() -> None:
    assert decode_payload("é".encode(), "ascii").encoding == "hex"
    assert decode_payload("中".encode("gbk"), "gbk").text == "中"


@given(st.binary(max_size=2048))
def test_decode_never_raises_and_display_is_one_safe_line(data: bytes) -> None:
    text, _used = display_line(data)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    unsafe = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    assert not [ch for ch in text if unicodedata.category(ch) in unsafe], text


def test_escape_controls_neutralises_terminal_sequences() -> None:
    hostile = "\x1b[2J\x1b]0;pwned\x07red\u202etxt.exe\x9b31m\x00"
    escaped = escape_controls(hostile)
    assert escaped == "\\x1b[2J\\x1b]0;pwned\\x07red\\u202etxt.exe\\x9b31m\\x00"
    assert escape_controls("中文 tab\there\\") == "中文 tab\\there\\\\"
    assert escape_controls("全角\u3000空格") == "全角\u3000空格"  # ideographic space is text
    assert escape_controls("\ue000") == "\\ue000"  # private use: escaped


def test_display_line_drops_one_trailing_newline_only() -> None:
    assert display_line(b"hello\n") == ("hello", "utf-8")
    assert display_line(b"hello\r\n") == ("hello", "utf-8")
    assert display_line(b"a\nb\n\n") == ("a\\nb\\n", "utf-8")


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("de ad be ef", b"\xde\xad\xbe\xef"),
        ("DEADBEEF", b"\xde\xad\xbe\xef"),
        ("de:ad-01", b"\xde\xad\x01"),
        ("0x0102", b"\x01\x02"),
        ("", b""),
    ],
)
def test_parse_hex(text: str, data: bytes) -> None:
    assert parse_hex(text) == data


@pytest.mark.parametrize("text", ["zz", "abc", "de ad b", "0xg1", "你好"])
def test_parse_hex_rejects(text: str) -> None:
    with pytest.raises(InvalidHex, match="not hexadecimal"):
        parse_hex(text)


def test_encode_text_and_check_encoding() -> None:
    assert encode_text("你好", "gbk") == b"\xc4\xe3\xba\xc3"
    assert check_encoding("GBK", allow_auto=False) == "gbk"
    assert check_encoding("Auto", allow_auto=True) == "auto"
    with pytest.raises(UsageError, match="unknown encoding"):
        check_encoding("auto", allow_auto=False)
    for not_text in ("hex", "zlib", "base64"):
        with pytest.raises(UsageError, match="unknown encoding"):
            check_encoding(not_text, allow_auto=True)
    assert decode_payload(b"\x01", "hex").encoding == "hex"
    with pytest.raises(UsageError, match="cannot be written in ascii"):
        encode_text("中", "ascii")


def _slow_escape(text: str) -> str:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
    out = []
    for ch in text:
        if ch in named:
            out.append(named[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


@given(st.text(max_size=60))
def test_fast_path_agrees_with_the_character_by_character_rule(text: str) -> None:
    assert escape_controls(text) == _slow_escape(text)
