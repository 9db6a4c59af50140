"""Frozen configurations: what the CLI (or a library caller) asks a command to do.

The CLI parses and validates arguments into one of these and calls a single ``run``;
nothing downstream looks at argv.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpSendConfig:
    """``pigeon udp send``: payloads are already encoded (or None: read stdin lines)."""

    host: str
    port: int
    payloads: tuple[bytes, ...] | None
    encoding: str = "utf-8"
    hex_input: bool = False
    wait: float | None = None
    broadcast: bool = False
    reply_encoding: str = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpRecvConfig:
    """``pigeon udp recv``: the tutorial's bound receiver."""

    bind: str = ""
    port: int = 7788
    count: int | None = None
    echo: bool = False
    encoding: str = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpConnectConfig:
    """``pigeon tcp connect``: ``send`` set means send it, half-close, print the reply."""

    host: str
    port: int
    send: bytes | None = None
    connect_timeout: float = 10.0
    idle_timeout: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpListenConfig:
    """``pigeon tcp listen``: reply (then close), echo, or just show what clients send; with
    ``raw``, a client's bytes go to stdout unchanged and stdin goes to it (as ``nc -l``)."""

    bind: str = ""
    port: int = 7788
    reply: bytes | None = None
    echo: bool = False
    once: bool = False
    encoding: str = "auto"
    max_clients: int = 1000
    raw: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PingConfig:
    """``pigeon ping``: TCP connect round trips."""

    host: str
    port: int
    count: int = 4
    interval: float = 1.0
    timeout: float = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeConfig:
    """``pigeon serve``: share one folder read-only over HTTP/1.1 and the tutorial's protocol."""

    root: str = "."
    bind: str = ""
    port: int = 7890
    follow_symlinks: bool = False
    hidden: bool = False
    quiet: bool = False
    log_json: bool = False
    max_connections: int = 2000
    max_listing: int = 100_000
    """Entries a folder's page lists at most (then a note says how many were left out)."""
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    stall_timeout: float = 60.0
    legacy_wait: float = 0.25
    grace: float = 5.0
    use_sendfile: bool = True
    digest_cache: str | None = None
    """sqlite3 file keeping SHA-256 digests across restarts; None: in memory only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatConfig:
    """``pigeon chat`` / ``send`` / ``peers``: one IP Messenger endpoint.

    ``peers`` and ``plain_peers`` are ``(host, port)`` pairs, not yet resolved. With
    ``discovery`` off nothing is broadcast: only the given peers are contacted.
    """

    nick: str
    user: str
    host: str
    group: str = ""
    bind: str = ""
    port: int = 2425
    encoding: str = "auto"
    peers: tuple[tuple[str, int], ...] = ()
    plain_peers: tuple[tuple[str, int], ...] = ()
    discovery: bool = True
    retry_interval: float = 0.75
    tries: int = 6
    rate: float = 200.0
    keep_open: bool = False
    port_fallback: bool = False
