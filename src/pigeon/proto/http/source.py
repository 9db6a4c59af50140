"""What ``pigeon get`` is asked to fetch: ``host``, ``host:port``, ``[v6]:port``, any of them
followed by ``/path``, or an http:// URL (addresses read by ``proto.address``'s one grammar).

Pure parsing into a ``Source`` (host, port, request target); no resolution happens here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from pigeon.errors import InvalidPort, UsageError
from pigeon.proto.address import format_endpoint, parse_destination, parse_destination_port

DEFAULT_PORT = 7890
URL_SAFE = "/%:@!$&'()*+,;=?~"
"""Characters a request target keeps as typed: a path given as in a URL (``%20`` stays an
escape); spaces, controls and non-ASCII are percent-encoded (UTF-8), and so is a ``%`` that
starts no escape (``50%.txt``), which servers answer 400 (``_typed``)."""
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _typed(text: str) -> str:
    """A path or query as typed, made a valid request target (see ``URL_SAFE``)."""
    return quote(_LONE_PERCENT.sub("%25", text), safe=URL_SAFE)


@dataclass(frozen=True, slots=True)
class Source:
    """An HTTP resource: where to connect and the origin-form target to ask for."""

    host: str
    port: int
    target: str  # percent-encoded, starts with "/"
    # made once: a mirror names each of its files in several messages and one request
    host_header: str = field(init=False, repr=False, compare=False)
    """The Host header value."""
    url: str = field(init=False, repr=False, compare=False)
    """The resource as an http:// URL."""

    def __post_init__(self) -> None:
        endpoint = format_endpoint(self.host, self.port)
        object.__setattr__(self, "host_header", endpoint)
        object.__setattr__(self, "url", f"http://{endpoint}{self.target}")

    @property
    def name(self) -> str:
        """The last path component, decoded (may be empty for a directory)."""
        return unquote(self.target.partition("?")[0].rstrip("/").rpartition("/")[2])


def parse_source(text: str, path: str | None = None) -> Source:
    """Combine SOURCE and an optional PATH into a ``Source``.

    Raises:
        UsageError: not http://, or an unreadable address. InvalidPort: not 1-65535.
    """
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError as exc:  # "http://[::1:80/x": brackets that do not close
            raise UsageError(f"{text!r} is not a URL pigeon can read ({exc})") from None
        if parts.scheme.lower() != "http":
            raise UsageError(f"{parts.scheme}:// is not supported: pigeon get speaks http://")
        if not parts.hostname:
            raise UsageError(f"{text!r} names no host")
        try:
            port_value = parts.port
        except ValueError:
            raise InvalidPort(f"{text!r} names no port from 1 to 65535") from None
        port = parse_destination_port(port_value) if port_value is not None else 80
        target = _typed(parts.path) or "/"
        if parts.query:
            target += "?" + _typed(parts.query)
        host = parts.hostname
        if "%" in host:  # an IPv6 zone, its % written %25 in a URL (RFC 6874): fe80::1%eth0
            address, _, zone = host.partition("%")
            host = f"{address}%{unquote(zone.removeprefix('25'))}"
    else:
        # HOST, HOST:PORT, [V6]:PORT, each maybe with /path: the get form of the one grammar
        # (its second word is a PATH, never a port)
        peer, _ = parse_destination([text], default_port=DEFAULT_PORT, port_word=False, path=True)
        host, port = peer.host, peer.port
        target = _typed(peer.path) or "/"
    if path:
        base = target.partition("?")[0]
        target = base.rstrip("/") + "/" + quote(path.lstrip("/"), safe="/")
    return Source(host, port, target)


def is_folder_target(target: str) -> bool:
    """True when a request target names a folder (its path ends with ``/``)."""
    return target.partition("?")[0].endswith("/")


def resolve_location(current: Source, location: str) -> Source:
    """Where a redirect's ``Location`` points, relative to ``current``.

    Raises:
        UsageError: a redirect to something other than http://.
    """
    if "://" in location:
        return parse_source(location)
    if location.startswith("//"):
        return parse_source("http:" + location)
    if location.startswith("/"):
        return Source(current.host, current.port, location)
    base = current.target.partition("?")[0].rpartition("/")[0]
    return Source(current.host, current.port, f"{base}/{location}")
