"""Turning a server-supplied name into a safe local file name.

Only the last path component is kept; control characters, separators and characters Windows
refuses are replaced; ``.``/``..``/empty names and reserved device names are rewritten, so a
server can never make ``pigeon get`` write outside the destination folder.
"""

from __future__ import annotations

import enum
import unicodedata

RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
MAX_NAME_BYTES = 255
FALLBACK = "download"


def safe_local_name(name: str) -> str:
    """A file name that is safe to create in the destination folder."""
    name = name.replace("\\", "/").rstrip("/").rpartition("/")[2]
    cleaned = "".join(
        "_" if unicodedata.category(ch) in ("Cc", "Cf", "Cs") or ch in '<>:"|?*' else ch
        for ch in name
    ).strip(" ")
    if cleaned in ("", ".", "..") or set(cleaned) == {"."}:
        return FALLBACK
    if cleaned.split(".")[0].upper() in RESERVED:
        cleaned = "_" + cleaned
    encoded = cleaned.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:  # cut once, at a character boundary (linear)
        cleaned = encoded[:MAX_NAME_BYTES].decode("utf-8", "ignore")
    return cleaned


class Listed(enum.Enum):
    """What a mirror does with a name a server listed."""

    TAKE = "take"
    HIDDEN = "hidden"  # a dot-file or dot-folder: skipped unless asked for (--hidden)
    REFUSED = "refused"  # dangerous here: a path, a dot-segment, control characters, too long


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def refusal(name: object) -> str | None:
    """Why a listed name may not be written as it is (a few words), or None when it may.

    Linear in the name's length, and the length is checked first: a 1 MB name costs one
    encode, never a scan per character of something slower."""
    if not isinstance(name, str):
        return "not a string"
    if name in ("", ".", ".."):
        return "empty or a dot-segment"
    if "/" in name:
        return "a path, not a name"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        return f"{size:,} bytes long (a file name holds at most {MAX_NAME_BYTES})"
    if any(unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI for ch in name):
        return "control or bidirectional-override characters"
    return None


def listed_name(name: object, *, hidden: bool = False) -> Listed:
    """Whether a name from a folder listing may be written as it is into the mirror.

    Any name the local file system can hold is taken as it is (quotes, ``#``, ``?``,
    spaces); refused are only those that would leave the folder or mislead (``refusal``
    says why): separators, ``.``/``..``, NUL and other control characters, bidirectional
    overrides, more than 255 bytes. Dot-names are ``HIDDEN``: a server must not plant
    ``.ssh`` or ``.bashrc``.
    """
    if refusal(name) is not None:
        return Listed.REFUSED
    assert isinstance(name, str)
    if name.startswith(".") and not hidden:
        return Listed.HIDDEN
    return Listed.TAKE
