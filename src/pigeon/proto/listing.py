"""Directory listings as HTML (for browsers) and JSON (for scripts and ``pigeon get -r``)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """One entry of a directory listing."""

    name: str
    is_dir: bool
    size: int
    mtime: float
    digest: str | None = None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_json(path: str, entries: Sequence[ListingEntry]) -> bytes:
    """``{"path": ..., "entries": [{"name", "type", "size", "mtime"[, "sha256"]}]}``."""
    doc = {
        "path": path,
        "entries": [
            {
                "name": e.name,
                "type": "dir" if e.is_dir else "file",
                "size": e.size,
                "mtime": e.mtime,
                **({"sha256": e.digest} if e.digest else {}),
            }
            for e in entries
        ],
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def render_html(path: str, entries: Sequence[ListingEntry]) -> bytes:
    """A plain, sorted HTML listing with a parent link; names escaped, links percent-encoded."""
    title = html.escape(f"pigeon: {path}")
    rows = []
    if path != "/":
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for e in entries:
        shown = e.name + ("/" if e.is_dir else "")
        href = quote(e.name, safe="") + ("/" if e.is_dir else "")
        size = "" if e.is_dir else _human(e.size)
        rows.append(
            f'<tr><td><a href="{href}">{html.escape(shown)}</a></td>'
            f'<td class="size">{size}</td><td>{_iso(e.mtime)}</td></tr>'
        )
    body = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width"><title>{title}</title>'
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}"
        ".size{text-align:right}</style></head>\n"
        f"<body><h1>{title}</h1>\n<table>\n" + "\n".join(rows) + "\n</table></body></html>\n"
    )
    return body.encode("utf-8")
