"""Turning peer bytes into text that is safe to show, and user text into bytes to send.

Decoding never raises: ``auto`` tries strict UTF-8, then strict GB18030 (the charset of
Chinese Windows peers such as the tutorial's GBK examples), then falls back to hex.
Terminal control characters are escaped so a peer can never drive the user's terminal.
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


def decode_payload(data: bytes, encoding: str = AUTO) -> DecodedText:
    """Decode ``data`` without ever failing; undecodable payloads come back as hex."""
    chain = AUTO_CHAIN if encoding == AUTO else (encoding,)
    for codec in chain:
        try:
            return DecodedText(data.decode(codec), codec)
        except (UnicodeDecodeError, LookupError):
            continue
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


def escape_controls(text: str) -> str:
    """Make ``text`` safe for a terminal: control and format characters become escapes.

    Escaped: C0 and C1 controls, DEL, Unicode format characters (bidi overrides,
    zero-width joiners) that could reorder or hide what is shown, and private-use or
    unassigned code points. Printable text, including
    Chinese, passes unchanged; a backslash is doubled so the result is unambiguous.
    """
    if text.isprintable() and "\\" not in text:
        # isprintable() is False for every category escaped below (and for some spaces,
        # which the slow path then passes through): the common case costs one C call.
        return text
    out: list[str] = []
    for ch in text:
        named = _NAMED_ESCAPES.get(ch)
        if named is not None:
            out.append(named)
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
