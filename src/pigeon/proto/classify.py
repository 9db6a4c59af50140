"""Telling the protocols on pigeon's file port apart from a connection's first bytes.

``classify`` looks at the bytes received so far and answers HTTP, LEGACY (the tutorial's
bare file name), IPMSG (an IP Messenger GETFILEDATA / GETDIRFILES packet: chat attachments),
or NEED_MORE when a longer prefix is needed. The caller decides how long to wait for more:
for a prefix of an HTTP method (``might_be_http``) as long as for a request head, since a
client may send ``GE`` and the rest later; otherwise a short pause settles it as LEGACY.
"""

from __future__ import annotations

import enum

from pigeon.proto.chat import ipmsg

HTTP_METHODS = (
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"TRACE",
    b"CONNECT",
)


class Protocol(enum.Enum):
    """What a connection speaks."""

    NEED_MORE = "need-more"
    HTTP = "http"
    LEGACY = "legacy"
    IPMSG = "ipmsg"


def classify(prefix: bytes) -> Protocol:
    """Classify a connection from its first bytes (any amount, possibly one byte)."""
    if not prefix:
        return Protocol.NEED_MORE
    for method in HTTP_METHODS:
        token = method + b" "
        if prefix.startswith(token):
            return Protocol.HTTP
        if token.startswith(prefix):
            return Protocol.NEED_MORE
    if is_ipmsg_request(prefix):
        return Protocol.IPMSG
    if _could_become_ipmsg(prefix):
        return Protocol.NEED_MORE  # the caller's short wait then settles it as LEGACY
    return Protocol.LEGACY


def might_be_http(prefix: bytes) -> bool:
    """True when ``prefix`` is the start of an HTTP method and its space (``GE``, ``HEAD``)."""
    return any((method + b" ").startswith(prefix) for method in HTTP_METHODS)


IPMSG_FILE_COMMANDS = (ipmsg.GETFILEDATA, ipmsg.GETDIRFILES)
_IPMSG_PREFIX_LIMIT = 512


def is_ipmsg_request(prefix: bytes) -> bool:
    """True when ``prefix`` is a complete IP Messenger GETFILEDATA or GETDIRFILES packet."""
    packet = ipmsg.parse_packet(prefix)
    return packet is not None and packet.mode in IPMSG_FILE_COMMANDS


def _could_become_ipmsg(prefix: bytes) -> bool:
    """An incomplete packet header: starts like a version and has fewer than five ':'."""
    return (
        prefix.startswith(b"1")
        and prefix.count(b":") < 5
        and len(prefix) < _IPMSG_PREFIX_LIMIT
        and b"\n" not in prefix
    )
