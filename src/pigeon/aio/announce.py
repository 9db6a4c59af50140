"""What a server says when it starts: where other machines reach it, and what to paste there."""

from __future__ import annotations

import socket

from pigeon.aio.interfaces import list_interfaces
from pigeon.aio.sockets import WILDCARD, local_port
from pigeon.events import Listening
from pigeon.proto.address import format_endpoint
from pigeon.proto.interfaces import reachable_addresses


def listening(sock: socket.socket, *, protocol: str, bind: str, hint: str) -> Listening:
    """A ``Listening`` event for ``sock``; ``hint`` may use ``{host}`` and ``{port}``."""
    port = local_port(sock)
    if bind == WILDCARD:
        hosts = reachable_addresses(list_interfaces()) or ["127.0.0.1"]
    else:
        hosts = [str(sock.getsockname()[0])]
    reach = tuple(format_endpoint(h, port) for h in hosts)
    first = hosts[0]
    host_text = f"[{first}]" if ":" in first else first
    local = format_endpoint(str(sock.getsockname()[0]), port)
    return Listening(protocol, local, port, reach, hint.format(host=host_text, port=port))
