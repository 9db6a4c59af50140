"""Turning peer bytes into text that is safe to show, and user text into bytes to send.

Decoding never raises: ``auto`` tries strict UTF-8, then strict GB18030 (the charset of
Chinese Windows peers such as the tutorial's GBK examples), then falls back to hex; binary
that happens to decode (GB18030 reads almost any byte pairs as rare hanzi) is hex too.
Terminal control characters are escaped so a peer can never drive the user's terminal.
Sizes and counts shown to a person are worded here, once: ``format_size`` (binary units)
and ``plural``.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

from pigeon.errors import InvalidHex, UsageError

AUTO = "auto"
HEX = "hex"
AUTO_CHAIN = ("utf-8", "gb18030")

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Controls, format characters (bidi overrides), surrogates, private-use and unassigned
code points, and line/paragraph separators: anything a terminal might act on or hide."""

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


@dataclass(frozen=True, slots=True)
class DecodedText:
    """Text recovered from a payload: ``encoding`` is the codec used, or ``"hex"``."""

    text: str
    encoding: str


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, the word in plural unless the count is one: ``1 probe``,
    ``2 probes``, ``1,024 entries`` (``many`` when adding "s" is wrong)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def format_size(size: float) -> str:
    """A size for a person, in binary units as listings, progress, chat and results show it:
    ``1 byte``, ``512 bytes``, ``1.5 KiB``, ``12.0 MiB`` (exact byte counts go in --json)."""
    if size < 1024:
        return plural(int(size), "byte")
    value = size / 1024
    for unit in _UNITS:
        if round(value, 1) < 1024 or unit == _UNITS[-1]:  # 1048575 bytes is 1.0 MiB, not 1024.0 KiB
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # the loop returns at its last unit


def check_encoding(name: str, *, allow_auto: bool) -> str:
    """Return the canonical codec name for ``name`` (``auto`` kept when allowed).

    Raises:
        UsageError: Python knows no such codec.
    """
    if allow_auto and name.lower() == AUTO:
        return AUTO
    try:
        canonical = codecs.lookup(name).name
        "".encode(canonical)  # refuses bytes-to-bytes codecs such as hex_codec or zlib
    except LookupError:
        raise UsageError(f"unknown encoding {name!r} (try utf-8, gbk or gb18030)") from None
    return canonical


_TEXT_SHARE = 0.75
"""``auto`` reads a payload as text only when at least this share of its characters is
printable (and, for GB18030, common): binary rarely is; a message with a few escape codes is."""


def _mostly_printable(text: str) -> bool:
    if text.isprintable():
        return True
    shown = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
    return shown >= _TEXT_SHARE * len(text)


def _common_hanzi(ch: str) -> bool:
    """A character Chinese text mostly uses: GB2312's symbols and full-width forms (lead
    byte A1-A9) and its level-1 hanzi (B0-D7, the 3,755 common ones). Byte pairs of binary
    data decode as GB18030 too, but mostly to rare characters outside this set."""
    try:
        lead = ch.encode("gb2312")[0]
    except UnicodeEncodeError:
        return False
    return 0xA1 <= lead <= 0xA9 or 0xB0 <= lead <= 0xD7


def _known_hanzi(ch: str) -> bool:
    """A character of GB2312 (simplified, both levels) or Big5 (traditional): what names
    and text use, rare ones included."""
    for charset in ("gb2312", "big5"):
        try:
            ch.encode(charset)
        except UnicodeEncodeError:
            continue
        return True
    return False


LONG_ENOUGH = 3
"""Characters beyond ASCII from which a payload is judged by the wider set (``_known_hanzi``).
Two byte pairs of binary read as two characters that may well be in it; three or more such
pairs that all decode, and mostly to known characters, are text (飛鴿傳書, 張偉)."""


def _mostly_chinese(text: str) -> bool:
    """At least the text share of the characters beyond ASCII are common ones (for a short
    payload: GB2312's most common; else any GB2312 or Big5 character)."""
    wide = [ch for ch in text if ch >= "\x80"]
    known = _known_hanzi if len(wide) >= LONG_ENOUGH else _common_hanzi
    return sum(1 for ch in wide if known(ch)) >= _TEXT_SHARE * len(wide)


def decode_payload(data: bytes, encoding: str = AUTO) -> DecodedText:
    """Decode ``data`` without ever failing; undecodable payloads come back as hex.

    With ``auto``, a payload that decodes but is mostly not text (controls; for GB18030,
    mostly rare characters, as ``de ad be ef`` reads "蕲撅") is hex as well. An explicit
    charset is the user's word: whatever decodes is shown as text, escaped."""
    chain = AUTO_CHAIN if encoding == AUTO else (encoding,)
    for codec in chain:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        if encoding == AUTO and not (
            _mostly_printable(text) and (codec != "gb18030" or _mostly_chinese(text))
        ):
            break
        return DecodedText(text, codec)
    return DecodedText(data.hex(" "), HEX)


def encode_text(text: str, encoding: str) -> bytes:
    """Encode user text for the wire.

    Raises:
        UsageError: the text has characters the encoding cannot express.
    """
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise UsageError(f"{bad!r} cannot be written in {encoding}") from None


def parse_hex(text: str) -> bytes:
    """Bytes from hex such as ``"de ad be ef"``, ``"deadbeef"`` or ``"de:ad"``.

    Raises:
        InvalidHex: not an even number of hexadecimal digits.
    """
    cleaned = "".join(text.replace(":", " ").replace("-", " ").split())
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise InvalidHex(
            f"--hex: {text!r} is not hexadecimal bytes (write pairs of digits such as 'de ad 01')"
        ) from None


def escape_controls(text: str, *, keep_backslashes: bool = False) -> str:
    """Make ``text`` safe for a terminal: control and format characters become escapes.

    Escaped: C0 and C1 controls, DEL, Unicode format characters (bidi overrides,
    zero-width joiners) that could reorder or hide what is shown, and private-use or
    unassigned code points. Printable text, including
    Chinese, passes unchanged; a backslash is doubled so the result is unambiguous, unless
    ``keep_backslashes`` (a message of pigeon's own that may quote already escaped text or
    a Windows path).
    """
    if text.isprintable() and (keep_backslashes or "\\" not in text):
        # isprintable() is False for every category escaped below (and for some spaces,
        # which the slow path then passes through): the common case costs one C call.
        return text
    out: list[str] = []
    for ch in text:
        named = _NAMED_ESCAPES.get(ch)
        if named is not None and not (keep_backslashes and ch == "\\"):
            out.append(named)
            continue
        if named is not None:
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in _ESCAPED_CATEGORIES:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def display_line(data: bytes, encoding: str = AUTO) -> tuple[str, str]:
    """One terminal-safe line for a payload, and the encoding used to read it.

    One trailing newline (``\\n`` or ``\\r\\n``, as ``nc`` sends) is not shown.
    """
    decoded = decode_payload(data, encoding)
    text = decoded.text
    if decoded.encoding != HEX:
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
    return escape_controls(text), decoded.encoding
