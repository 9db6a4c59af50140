"""Folder listings written in HTML (``python -m http.server``, nginx autoindex, Apache), read
as ``wget -r -np`` reads them: the links that lead one level below the folder itself.

A link counts when, resolved against the folder's path, it names exactly one more segment
(a trailing ``/`` makes it a folder). Parent links, sorting links (``?C=N;O=D``), fragments
and links to other servers are not entries. Bounded: at most ``MAX_LINKS`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

MAX_LINKS = 1_000_000


@dataclass(frozen=True, slots=True)
class Link:
    """One entry of an HTML listing: its decoded name and whether it is a folder."""

    name: str
    is_dir: bool


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and len(self.hrefs) < MAX_LINKS:
            for key, value in attrs:
                if key == "href" and value:
                    self.hrefs.append(value)
                    break


def folder_links(html: str, folder: str) -> list[Link]:
    """The entries of the listing ``html`` of the folder at path ``folder`` (percent-encoded,
    ending with ``/``), in document order, each name once."""
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    base = [unquote(seg, errors="surrogateescape") for seg in folder.split("/")][:-1]
    seen: set[str] = set()
    links: list[Link] = []
    for href in parser.hrefs:
        parts = urlsplit(href.strip())
        if parts.scheme or parts.netloc or parts.query or not parts.path:
            continue
        # compared segment by segment, decoded: servers spell the same path differently
        # ("/a%20(1)/x", "/a (1)/x", "x")
        resolved = urljoin(folder, parts.path)
        here = [unquote(seg, errors="surrogateescape") for seg in resolved.split("/")]
        if here[: len(base)] != base:
            continue
        rest = here[len(base) :]
        is_dir = len(rest) == 2 and rest[1] == ""
        if len(rest) != (2 if is_dir else 1) or not rest[0]:
            continue
        name = rest[0]
        if name in seen:
            continue
        seen.add(name)
        links.append(Link(name, is_dir))
    return links
