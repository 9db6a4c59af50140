"""Turning a server-supplied name into a safe local file name.

Only the last path component is kept; control characters, separators and characters Windows
refuses are replaced; ``.``/``..``/empty names and reserved device names are rewritten, so a
server can never make ``pigeon get`` write outside the destination folder.
"""

from __future__ import annotations

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
    while len(cleaned.encode("utf-8")) > MAX_NAME_BYTES:
        cleaned = cleaned[:-1]
    return cleaned
