"""One vocabulary: sizes in binary units and counts with the right plural, worded in one place;
binary payloads shown as hex unless they read as text."""

from __future__ import annotations

import json

import pytest

from pigeon.proto.http.listing import ListingEntry, render_html, render_json
from pigeon.proto.text import decode_payload, display_line, format_size, plural


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (2, "2 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1 << 20, "1.0 MiB"),
        ((1 << 20) - 1, "1.0 MiB"),  # not "1024.0 KiB"
        ((1 << 30) - 1, "1.0 GiB"),
        (12 * (1 << 20) + (1 << 19), "12.5 MiB"),
        (5 << 30, "5.0 GiB"),
        (3 << 40, "3.0 TiB"),
        (2048 << 50, "2048.0 PiB"),  # the largest unit keeps counting
    ],
)
def test_format_size_uses_binary_units(size: int, shown: str) -> None:
    assert format_size(size) == shown


def test_format_size_never_says_mb_or_kb() -> None:
    for exponent in range(0, 60, 3):
        text = format_size(1 << exponent)
        assert not any(unit in text for unit in ("kB", "KB", "MB", "GB", "TB")), text


@pytest.mark.parametrize(
    ("count", "word", "many", "shown"),
    [
        (0, "probe", None, "0 probes"),
        (1, "probe", None, "1 probe"),
        (2, "request", None, "2 requests"),
        (1, "entry", "entries", "1 entry"),
        (1234, "entry", "entries", "1,234 entries"),
    ],
)
def test_plural(count: int, word: str, many: str | None, shown: str) -> None:
    assert plural(count, word, many) == shown


def test_listing_sizes_are_the_shared_wording_and_json_keeps_exact_bytes() -> None:
    entries = [
        ListingEntry("one.bin", False, 1, 0.0),
        ListingEntry("big.bin", False, 3 << 20, 0.0),
    ]
    page = render_html("/", entries).decode()
    assert ">1 byte<" in page and ">3.0 MiB<" in page and " B<" not in page
    sizes = [e["size"] for e in json.loads(render_json("/", entries))["entries"]]
    assert sizes == [1, 3 << 20]


@pytest.mark.parametrize(
    "data",
    [
        b"\xde\xad\xbe\xef",  # GB18030 reads it as the rare 蕲撅: it used to be shown so
        b"\x00\x01\x02\x03",  # valid UTF-8, but all controls
        bytes(range(256)),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\xff\x00\x1b\x80",  # never decoded: hex as before
    ],
)
def test_binary_payloads_are_hex(data: bytes) -> None:
    decoded = decode_payload(data)
    assert decoded.encoding == "hex" and decoded.text == data.hex(" ")
    assert display_line(data) == (data.hex(" "), "hex")


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"hello\n", "hello\n", "utf-8"),
        ("你好 hello".encode(), "你好 hello", "utf-8"),
        ("你好\n".encode("gbk"), "你好\n", "gb18030"),
        ("你好，我用 GBK".encode("gbk"), "你好，我用 GBK", "gb18030"),
        ("网络调试助手".encode("gbk"), "网络调试助手", "gb18030"),
        # traditional characters and names' rare ones are text too (they were hex)
        ("飛鴿傳書".encode("gbk"), "飛鴿傳書", "gb18030"),
        ("我叫張偉".encode("gbk"), "我叫張偉", "gb18030"),
        ("鑫淼焱垚".encode("gbk"), "鑫淼焱垚", "gb18030"),
        # a message with escape codes is still text (escaped when shown), not binary
        (b"\x1b[2J\x1b]0;owned\x07hi", "\x1b[2J\x1b]0;owned\x07hi", "utf-8"),
        (b"", "", "utf-8"),
    ],
)
def test_text_payloads_stay_text(data: bytes, text: str, encoding: str) -> None:
    decoded = decode_payload(data)
    assert (decoded.text, decoded.encoding) == (text, encoding)


def test_an_explicit_charset_is_the_users_word() -> None:
    # --encoding gb18030 shows what it decodes, even what auto would call binary
    assert decode_payload(b"\xde\xad\xbe\xef", "gb18030").text == "蕲撅"
