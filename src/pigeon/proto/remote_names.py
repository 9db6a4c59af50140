"""Validation of names that come from the network: request paths and legacy file names.

A remote name becomes a list of plain path segments or is refused. Refused: ``..`` and
``.``, absolute paths (legacy), backslashes, NUL and other control characters, drive
letters, overlong segments or paths, and text that is not UTF-8. What is left can only name
something *below* the shared folder; the filesystem layer still checks symlinks.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

from pigeon.errors import ProtocolError

MAX_SEGMENT = 255
MAX_PATH = 4096
MAX_LEGACY_NAME = 1024
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = frozenset({"Cc", "Cf", "Cs"})


class RefusedName(ProtocolError):
    """A remote name that can never be served; ``status`` is the HTTP answer to give."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def _check_segments(segments: list[str]) -> list[str]:
    for seg in segments:
        if seg in (".", ".."):
            raise RefusedName("dot segment", 403)
        if "\\" in seg or "\x00" in seg:
            raise RefusedName("backslash or NUL", 403)
        # printable ASCII has no control, format or surrogate character: no per-character look
        printable_ascii = seg.isascii() and seg.isprintable()
        if not printable_ascii and any(unicodedata.category(ch) in _CONTROL for ch in seg):
            raise RefusedName("control character", 403)
        if len(seg.encode("utf-8", "surrogatepass")) > MAX_SEGMENT:
            raise RefusedName("segment too long", 414)
        if len(seg) >= 2 and seg[1] == ":" and seg[0].isalpha():
            raise RefusedName("drive letter", 403)
    return segments


def url_path_segments(target: bytes) -> tuple[list[str], str, bool]:
    """Split an HTTP request target into path segments, the query, and a trailing slash.

    Raises:
        RefusedName: the path can never be served (status 400, 403 or 414).
    """
    if len(target) > MAX_PATH:
        raise RefusedName("request target too long", 414)
    path, _, query = target.partition(b"?")
    path = path.partition(b"#")[0]
    if not path.startswith(b"/"):
        raise RefusedName("not an origin-form target", 400)
    if b"%" in path and _BAD_ESCAPE.search(path):
        # "%" not followed by two hex digits: no name was meant (nginx answers 400 too);
        # read as a literal "%" it would name another file than the client's
        raise RefusedName("a malformed percent-escape", 400)
    raw = unquote_to_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedName("path is not UTF-8", 400) from None
    segments = [seg for seg in text.split("/") if seg]
    try:
        query_text = unquote_to_bytes(query.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedName("query is not UTF-8", 400) from None
    return _check_segments(segments), query_text, text.endswith("/")


def legacy_name_segments(data: bytes) -> list[str]:
    """Segments of a tutorial-protocol request: a bare, relative file name.

    One trailing newline is allowed (a client typing into nc sends one).

    Raises:
        RefusedName: too long, not UTF-8, absolute, or escaping the shared folder.
    """
    if len(data) > MAX_LEGACY_NAME:
        raise RefusedName("legacy name longer than 1024 bytes", 414)
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedName("legacy name is not UTF-8", 400) from None
    if not text or text.startswith(("/", "~")):
        raise RefusedName("empty or absolute legacy name", 403)
    segments = [seg for seg in text.split("/") if seg]
    if not segments:
        raise RefusedName("empty legacy name", 404)
    return _check_segments(segments)
