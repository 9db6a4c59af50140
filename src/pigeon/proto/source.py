"""What ``pigeon get`` is asked to fetch: ``host``, ``host:port``, ``[v6]:port`` or a URL.

Pure parsing into a ``Source`` (host, port, request target); no resolution happens here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from pigeon.errors import UsageError
from pigeon.proto.address import format_endpoint, parse_endpoint, parse_port

DEFAULT_PORT = 7890


@dataclass(frozen=True, slots=True)
class Source:
    """An HTTP resource: where to connect and the origin-form target to ask for."""

    host: str
    port: int
    target: str  # percent-encoded, starts with "/"

    @property
    def url(self) -> str:
        """The resource as an http:// URL."""
        return f"http://{format_endpoint(self.host, self.port)}{self.target}"

    @property
    def host_header(self) -> str:
        """The Host header value."""
        return format_endpoint(self.host, self.port)

    @property
    def name(self) -> str:
        """The last path component, decoded (may be empty for a directory)."""
        return unquote(self.target.partition("?")[0].rstrip("/").rpartition("/")[2])


def parse_source(text: str, path: str | None = None) -> Source:
    """Combine SOURCE and an optional PATH into a ``Source``.

    Raises:
        UsageError: not http://, or an unreadable address. InvalidPort: bad port.
    """
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() != "http":
            raise UsageError(f"{parts.scheme}:// is not supported: pigeon get speaks http://")
        if not parts.hostname:
            raise UsageError(f"{text!r} names no host")
        try:
            port_value = parts.port
        except ValueError:
            raise UsageError(f"{text!r} has a port outside 0-65535") from None
        port = parse_port(port_value) if port_value is not None else 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = parts.hostname
    else:
        endpoint = parse_endpoint(text, default_port=DEFAULT_PORT)
        host, port, target = endpoint.host, endpoint.port, "/"
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
