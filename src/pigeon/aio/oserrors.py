"""Translation of OSError and resolver errors into pigeon's error tree, with one clear line.

Called only at the edge where a socket call failed; everything above sees ``PigeonError``.
"""

from __future__ import annotations

import errno
import socket

from pigeon.errors import (
    AddressInUse,
    ConnectionLost,
    ConnectionRefused,
    DatagramTooLong,
    NetworkError,
    NetworkUnreachable,
    PigeonError,
    PortPermissionDenied,
    TimedOut,
    UnknownHost,
)


def bind_error(exc: OSError, *, proto: str, host: str, port: int) -> PigeonError:
    """The error for a failed ``bind``/``listen`` of ``proto`` on ``host``:``port``."""
    where = f"{proto} port {port}" + (f" on {host}" if host not in ("", "::", "0.0.0.0") else "")  # noqa: S104
    if exc.errno == errno.EADDRINUSE:
        return AddressInUse(
            f"{where} is already in use by another program (choose another with --port)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        if 0 < port < 1024:
            return PortPermissionDenied(
                f"permission denied for {where}: ports below 1024 need root or "
                "CAP_NET_BIND_SERVICE (use --port 1024 or higher)"
            )
        return PortPermissionDenied(f"permission denied for {where}: {exc.strerror}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return NetworkError(f"cannot listen on {host}: that address is not on this machine")
    return NetworkError(f"cannot listen on {where}: {exc.strerror or exc}")


def connect_error(exc: OSError, *, proto: str, peer: str) -> PigeonError:
    """The error for a failed connect/send/receive exchanging ``proto`` with ``peer``."""
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return TimedOut(f"{proto} {peer}: timed out")
    if exc.errno == errno.ECONNREFUSED:
        return ConnectionRefused(f"{proto} {peer}: connection refused (nothing is listening there)")
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return NetworkUnreachable(f"{proto} {peer}: network unreachable (no route to that host)")
    if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return ConnectionLost(f"{proto} {peer}: connection lost ({exc.strerror})")
    if exc.errno == errno.EMSGSIZE:
        return DatagramTooLong(f"{proto} {peer}: datagram too long for the path ({exc.strerror})")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PortPermissionDenied(
            f"{proto} {peer}: permission denied (broadcast needs --broadcast)"
        )
    return NetworkError(f"{proto} {peer}: {exc.strerror or exc}")


def resolve_error(exc: socket.gaierror, *, host: str) -> PigeonError:
    """The error for a host name that did not resolve."""
    return UnknownHost(f"unknown host {host!r}: {exc.strerror or 'name does not resolve'}")


def stalled(what: str, who: str, within: float) -> TimedOut:
    """The error for a peer that sent nothing for ``within`` seconds while ``what`` waited."""
    return TimedOut(f"{what}: {who} sent nothing for {within:g}s")


def lost(what: str, exc: OSError | None = None, when: str = "mid-transfer") -> ConnectionLost:
    """The error for a connection closed or reset ``when`` (its cause, when one is known)."""
    why = f" ({exc.strerror})" if exc is not None and exc.strerror else ""
    return ConnectionLost(f"{what}: connection lost {when}{why}")


def no_answer(proto: str, peer: str, within: float) -> TimedOut:
    """The error for a connection ``peer`` did not accept within ``within`` seconds."""
    return TimedOut(f"{proto} {peer}: no answer within {within:g}s")
