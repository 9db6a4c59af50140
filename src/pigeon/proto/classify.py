"""Telling the protocols on pigeon's file port apart from a connection's first bytes.

``classify`` looks at the bytes received so far and answers HTTP, LEGACY (the tutorial's
bare file name), IPMSG (reserved: IP Messenger file requests, added with chat attachments),
or NEED_MORE when a longer prefix is needed. The caller decides how long to wait for more.
"""

from __future__ import annotations

import enum

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
    return Protocol.LEGACY


def is_ipmsg_request(prefix: bytes) -> bool:
    """IP Messenger file requests; always False until chat attachments add them."""
    return False
