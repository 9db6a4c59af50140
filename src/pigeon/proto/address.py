"""Parsing and formatting of network endpoints: ``host``, ``host:port``, ``[v6]:port``, ports.

``parse_destination`` is the one grammar of every command that reaches a peer (tcp connect,
udp send, ping, get): ``HOST PORT``, ``HOST:PORT``, ``[V6]:PORT``, a bare IPv6 literal
followed by its port word, and for get ``HOST:PORT/path``.

Pure functions: no name resolution happens here (that is ``aio``'s job); a host stays a string.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from pigeon.errors import InvalidAddress, InvalidPort

MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host (name or literal address, without brackets) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_endpoint(self.host, self.port)


def parse_port(text: str | int, *, what: str = "port", lowest: int = 0) -> int:
    """Return ``text`` as a port number, ``lowest`` (0: any port, when binding) to 65535.

    Raises:
        InvalidPort: not an integer, or outside ``lowest``-65535.
    """
    if isinstance(text, int):
        value = text
    else:
        stripped = text.strip()
        if not stripped.isdigit() or not stripped.isascii():
            raise InvalidPort(f"{what} {text!r} is not a number from {lowest} to {MAX_PORT}")
        value = int(stripped)
    if value == 0 < lowest:
        raise InvalidPort(f"{what} 0 cannot be reached: ports to reach go from 1 to {MAX_PORT}")
    if not lowest <= value <= MAX_PORT:
        raise InvalidPort(f"{what} {value} is out of range: ports go from {lowest} to {MAX_PORT}")
    return value


def parse_host(text: str) -> str:
    """Return a host with IPv6 brackets removed (``[::1]`` -> ``::1``).

    Raises:
        InvalidAddress: empty, or unbalanced brackets, or brackets around a non-IPv6 address.
    """
    host = text.strip()
    if host.startswith("[") or host.endswith("]"):
        if not (host.startswith("[") and host.endswith("]")):
            raise InvalidAddress(f"address {text!r} has unbalanced brackets")
        host = host[1:-1]
        if not is_ipv6_literal(host):
            raise InvalidAddress(f"{text!r}: brackets are only for IPv6 addresses")
    if not host:
        raise InvalidAddress("the host is empty")
    if any(ch.isspace() or ch in "/@" for ch in host):
        raise InvalidAddress(f"{text!r} is not a host name or address")
    if ":" in host and not is_ipv6_literal(host):  # no name has a colon: a stray port
        raise InvalidAddress(
            f"{text!r} is not a host name or address (IPv6 with a port: [V6]:PORT)"
        )
    return host


def parse_endpoint(text: str, *, default_port: int | None) -> Endpoint:
    """Parse ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal.

    A bare IPv6 literal (``::1``, ``fe80::1%eth0``) never carries a port; use brackets for that.

    Raises:
        InvalidAddress: the text cannot be read as an endpoint, or it names no port and
            there is no default.
        InvalidPort: the port is not in 0-65535.
    """
    raw = text.strip()
    port_text: str | None = None
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0:
            raise InvalidAddress(f"address {text!r} has unbalanced brackets")
        host = parse_host(raw[: close + 1])
        rest = raw[close + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidAddress(f"unexpected {rest!r} after the address in {text!r}")
            port_text = rest[1:]
    elif raw.count(":") == 1:
        host_text, port_text = raw.split(":")
        host = parse_host(host_text)
    else:
        host = parse_host(raw)
    if port_text is None:
        if default_port is None:
            raise InvalidAddress(f"{text!r} names no port (write HOST:PORT)")
        return Endpoint(host, parse_port(default_port))
    return Endpoint(host, parse_port(port_text))


def looks_like_address(text: str) -> bool:
    """True when ``text`` reads as an address (``ip``, ``host:port``, ``[v6]``, a dotted
    name) rather than a chat peer's nick."""
    bare = text.strip()
    return bare.count(":") == 1 or bare.startswith("[") or is_ipv6_literal(bare) or "." in bare


def is_ipv6_literal(host: str) -> bool:
    """True when ``host`` is an IPv6 address (a zone such as ``%eth0`` allowed)."""
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def unmap_ipv4(host: str) -> str:
    """Show an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) as the IPv4 address it is."""
    if host.startswith("::ffff:") and "." in host:
        return host[len("::ffff:") :]
    return host


def format_endpoint(host: str, port: int) -> str:
    """``1.2.3.4:80``, ``[::1]:80``; IPv4-mapped addresses are shown as IPv4."""
    host = unmap_ipv4(host)
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A peer to reach: host (no brackets), port (1-65535), and what followed the port
    (``/path``, only where allowed; ``""`` when none)."""

    host: str
    port: int
    path: str = ""

    @property
    def endpoint(self) -> Endpoint:
        """The host and port alone."""
        return Endpoint(self.host, self.port)

    def __str__(self) -> str:
        return format_endpoint(self.host, self.port) + self.path


def parse_destination_port(text: str | int) -> int:
    """A port to send or connect to: 1-65535. Port 0 means "any" only when binding; as a
    destination the kernel would pick nothing sensible (a UDP socket "connected" to port 0
    is not connected at all), so it is refused before anything is sent.

    Raises:
        InvalidPort: not a number, 0, or above 65535.
    """
    return parse_port(text, lowest=1)


def parse_destination(
    words: Sequence[str],
    *,
    default_port: int | None = None,
    port_word: bool = True,
    path: bool = False,
    more: bool = True,
) -> tuple[Destination, list[str]]:
    """Read the peer at the head of a command's positional ``words``.

    The first word is ``HOST``, ``HOST:PORT``, ``[V6]``, ``[V6]:PORT`` or a bare IPv6 literal
    (``::1``: its colons leave no room for a port, so the port is the next word). When the
    first word names no port, the next word is the PORT if ``port_word`` (``tcp connect
    HOST PORT``), else ``default_port`` applies. With ``path``, ``HOST:PORT/path``,
    ``HOST/path`` and ``[V6]:PORT/path`` keep what follows as ``Destination.path``. Unless
    ``more``, a word after the destination is an error (``tcp connect HOST:80 81``).

    Returns:
        The destination and the words after it (``udp send``'s TEXTs).

    Raises:
        InvalidAddress: no words, unreadable, or no port given and no default.
        InvalidPort: the port is not a number, 0, or above 65535.
    """
    if not words:
        raise InvalidAddress("no host given")
    text, rest = words[0], list(words[1:])
    raw = text.strip()
    rest_text = ""
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0:
            raise InvalidAddress(f"address {text!r} has unbalanced brackets")
        host = parse_host(raw[: close + 1])
        rest_text = raw[close + 1 :]
    elif raw.count(":") == 1:
        host_text, colon, rest_text = raw.partition(":")
        host = parse_host(host_text)
        rest_text = colon + rest_text
    elif path and ":" not in raw and "/" in raw:
        host_text, slash, after = raw.partition("/")
        host, rest_text = parse_host(host_text), slash + after
    else:
        host = parse_host(raw)  # a name, an IPv4 address or a bare IPv6 literal
    port_text: str | None = None
    found_path = ""
    if rest_text.startswith(":"):
        port_text, slash, after = rest_text[1:].partition("/")
        if slash:
            if not path:
                raise InvalidAddress(f"{text!r}: a path after the port is only for pigeon get")
            found_path = slash + after
    elif rest_text.startswith("/") and path:
        found_path = rest_text
    elif rest_text:
        raise InvalidAddress(f"unexpected {rest_text!r} after the address in {text!r}")
    if port_text is None and port_word and rest:
        port_text = rest.pop(0)
    if port_text is not None:
        port = parse_destination_port(port_text)
    elif default_port is not None:
        port = parse_destination_port(default_port)
    else:
        form = "HOST PORT or HOST:PORT" if port_word else "HOST:PORT"
        raise InvalidAddress(f"{text!r} names no port (write {form})")
    if rest and not more:
        raise InvalidAddress(f"{text!r} already names its port; {rest[0]!r} is one too many")
    return Destination(host, port, found_path), rest
