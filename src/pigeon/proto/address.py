"""Parsing and formatting of network endpoints: ``host``, ``host:port``, ``[v6]:port``, ports.

Pure functions: no name resolution happens here (that is ``aio``'s job); a host stays a string.
"""

from __future__ import annotations

import ipaddress
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


def parse_port(text: str | int, *, what: str = "port") -> int:
    """Return ``text`` as a port number.

    Raises:
        InvalidPort: not an integer, or outside 0-65535.
    """
    if isinstance(text, int):
        value = text
    else:
        stripped = text.strip()
        if not stripped.isdigit() or not stripped.isascii():
            raise InvalidPort(f"{what} {text!r} is not a number from 0 to {MAX_PORT}")
        value = int(stripped)
    if not 0 <= value <= MAX_PORT:
        raise InvalidPort(f"{what} {value} is out of range: ports go from 0 to {MAX_PORT}")
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


def endpoint_arguments(host: str, port: str | None) -> Endpoint:
    """A peer given as ``HOST PORT`` or as one ``HOST:PORT`` / ``[V6]:PORT`` argument.

    Raises:
        InvalidAddress: unreadable, or no port given either way. InvalidPort: out of range.
    """
    if port is None:
        return parse_endpoint(host, default_port=None)
    return Endpoint(parse_host(host), parse_port(port))
