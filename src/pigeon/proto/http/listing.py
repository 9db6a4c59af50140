"""Directory listings as HTML (for browsers) and JSON (for scripts and ``pigeon get -r``).

A listing is rendered in pieces (``ListingPage``): the server sends each batch of rows as it
is made, so a page of 100,000 entries is never one buffer per client. A listing cut at the
server's ``--max-listing`` says so: a note in the HTML page, ``"truncated"`` in the JSON; a
JSON listing of a server that leaves dot-files out says ``"dot_files": false``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from pigeon.proto.text import format_size


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """One entry of a directory listing."""

    name: str
    is_dir: bool
    size: int
    mtime: float
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """A folder's entries, sorted; ``total`` counts its names when more than fit the page."""

    entries: tuple[ListingEntry, ...]
    total: int

    @property
    def truncated(self) -> bool:
        """True when the folder holds names the page leaves out."""
        return self.total > len(self.entries)


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):  # a clock far outside what datetime holds
        return ""


class ListingPage:
    """One listing page, rendered in pieces: ``start()``, ``rows(batch)``..., ``end(listing)``.

    The pieces joined are the whole page (``render_html`` / ``render_json``).
    """

    def __init__(self, path: str, *, as_json: bool, dot_files: bool = True) -> None:
        self.path, self.as_json = path, as_json
        self.dot_files = dot_files
        """False when the server leaves dot-files out of its listings (the JSON says so, so
        that a client asking for them learns why none came)."""
        self._first = True

    def start(self) -> bytes:
        """The page's head, before any row."""
        if self.as_json:
            return (
                b'{"path": '
                + json.dumps(self.path, ensure_ascii=False).encode()
                + b', "entries": ['
            )
        title = html.escape(f"pigeon: {self.path}")
        parent = '\n<tr><td><a href="../">../</a></td><td></td><td></td></tr>'
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width"><title>{title}</title>'
            "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}"
            ".size{text-align:right}</style></head>\n"
            f"<body><h1>{title}</h1>\n<table>" + (parent if self.path != "/" else "")
        ).encode("utf-8")

    def rows(self, entries: Sequence[ListingEntry]) -> bytes:
        """The rows of ``entries``, continuing the page."""
        if not entries:
            return b""
        if self.as_json:
            text = ", ".join(
                json.dumps(
                    {
                        "name": e.name,
                        "type": "dir" if e.is_dir else "file",
                        "size": e.size,
                        "mtime": e.mtime,
                        **({"sha256": e.digest} if e.digest else {}),
                    },
                    ensure_ascii=False,
                )
                for e in entries
            )
            text = text if self._first else ", " + text
        else:
            text = "".join(
                f'\n<tr><td><a href="{quote(e.name, safe="")}{"/" if e.is_dir else ""}">'
                f"{html.escape(e.name + ('/' if e.is_dir else ''))}</a></td>"
                f'<td class="size">{"" if e.is_dir else format_size(e.size)}</td>'
                f"<td>{_iso(e.mtime)}</td></tr>"
                for e in entries
            )
        self._first = False
        return text.encode("utf-8")

    def end(self, listing: Listing) -> bytes:
        """The page's tail: with the note that it was cut, when it was."""
        shown, total = len(listing.entries), listing.total
        if self.as_json:
            cut = f', "truncated": true, "total": {total}' if listing.truncated else ""
            dots = "" if self.dot_files else ', "dot_files": false'
            return ("]" + cut + dots + "}").encode()
        note = (
            f"\n<p>showing the first {shown:,} of {total:,} names: the server lists at most "
            f"{shown:,} (its --max-listing)</p>"
            if listing.truncated
            else ""
        )
        return ("\n</table>" + note + "</body></html>\n").encode("utf-8")


def render(path: str, listing: Listing, *, as_json: bool) -> bytes:
    """The whole page at once."""
    page = ListingPage(path, as_json=as_json)
    return page.start() + page.rows(listing.entries) + page.end(listing)


def render_json(path: str, entries: Sequence[ListingEntry]) -> bytes:
    """``{"path": ..., "entries": [{"name", "type", "size", "mtime"[, "sha256"]}]}``."""
    return render(path, Listing(tuple(entries), len(entries)), as_json=True)


def render_html(path: str, entries: Sequence[ListingEntry]) -> bytes:
    """A plain, sorted HTML listing with a parent link; names escaped, links percent-encoded."""
    return render(path, Listing(tuple(entries), len(entries)), as_json=False)
