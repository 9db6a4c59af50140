"""Printing events: one human line each (data on stdout, notices on stderr) or one JSON object.

Every piece of peer-supplied text passes through ``escape_controls`` before it is printed,
so a peer can never send escape sequences to the user's terminal. Sizes are worded by
``format_size`` (binary units); JSON holds exact byte counts, one compact object per line.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import sys
from datetime import datetime
from typing import TextIO, assert_never

from pigeon.events import (
    ClientConnected,
    ClientDisconnected,
    DatagramReceived,
    DatagramSent,
    Event,
    Listening,
    Notice,
    PingProbe,
    RequestServed,
    StreamReceived,
)
from pigeon.proto.text import HEX, decode_payload, display_line, escape_controls, format_size
from pigeon.ui.access_log import access_line, access_record

DATA_EVENTS = (DatagramReceived, StreamReceived, PingProbe)
"""The events that are a command's output (stdout); the others are notices (stderr)."""

_second: list[object] = [None, ""]  # the last whole second formatted, and its text


def clock(ts: float) -> str:
    """Local wall-clock time with milliseconds, as each received line starts.

    The ``HH:MM:SS`` part is formatted once per second (a burst of lines shares it)."""
    second = int(ts)
    if _second[0] != second:
        _second[0], _second[1] = second, datetime.fromtimestamp(second).strftime("%H:%M:%S")
    return f"{_second[1]}.{int((ts - second) * 1000):03d}"


def iso(ts: float) -> str:
    """ISO 8601 local time with offset, for JSON."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def json_line(document: dict[str, object]) -> str:
    """One JSON object on one line (``--json`` output is JSON lines everywhere)."""
    return json.dumps(document, ensure_ascii=False)


def _payload_fields(data: bytes, encoding: str) -> dict[str, object]:
    """Text as ``text`` with the charset that read it in ``encoding``; anything else (binary)
    as ``base64`` alone: each field's name says what it holds."""
    decoded = decode_payload(data, encoding)
    if decoded.encoding == HEX:
        return {"bytes": len(data), "base64": base64.b64encode(data).decode("ascii")}
    return {"bytes": len(data), "encoding": decoded.encoding, "text": decoded.text}


def _loopback(endpoint: str) -> bool:
    """True for ``127.0.0.1:7788`` or ``[::1]:7788``: only this machine can use it."""
    host = endpoint.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _other_machines(event: Listening) -> str | None:
    """The command another machine can paste, or None when the server is bound to loopback
    (no other machine can reach it, so there is nothing to tell them)."""
    if event.reach and all(_loopback(where) for where in event.reach):
        return None
    return event.hint


def to_json(event: Event) -> dict[str, object]:
    """The JSON object for ``event`` (``type`` names it)."""
    match event:
        case RequestServed():
            return {"type": "request", **access_record(event)}
        case Listening():
            return {
                "type": "listening",
                "protocol": event.protocol,
                "local": event.local,
                "port": event.port,
                "reach": list(event.reach),
                "hint": _other_machines(event),
            }
        case DatagramSent():
            return {"type": "sent", "to": event.peer, "bytes": event.size}
        case DatagramReceived():
            return {
                "type": "datagram",
                "time": iso(event.time),
                "from": event.peer,
                **_payload_fields(event.data, event.decode_as),
            }
        case StreamReceived():
            return {
                "type": "data",
                "time": iso(event.time),
                "from": event.peer,
                **_payload_fields(event.data, event.decode_as),
            }
        case ClientConnected():
            return {"type": "connected", "time": iso(event.time), "peer": event.peer}
        case ClientDisconnected():
            return {
                "type": "disconnected",
                "time": iso(event.time),
                "peer": event.peer,
                "bytes_in": event.bytes_in,
                "bytes_out": event.bytes_out,
                "reason": event.reason,
            }
        case PingProbe():
            return {
                "type": "probe",
                "seq": event.seq,
                "peer": event.peer,
                "outcome": event.outcome,
                "rtt_ms": event.rtt_ms,
            }
        case Notice():
            return {"type": "notice", "text": event.text, **event.extra}
        case _ as unreachable:
            assert_never(unreachable)


def to_line(event: Event) -> tuple[str, bool]:
    """The human line for ``event`` and whether it is data (stdout) rather than a notice."""
    match event:
        case RequestServed():  # first: a busy server's one event per request
            return access_line(event), False
        case Listening():
            where = ", ".join(event.reach)
            line = f"listening on {event.protocol} {event.local}; reach it at {where}"
            hint = _other_machines(event)
            return (line if hint is None else f"{line}\n  from another machine: {hint}"), False
        case DatagramSent():
            return f"sent {format_size(event.size)} to {event.peer}", False
        case DatagramReceived() | StreamReceived():
            text, used = display_line(event.data, event.decode_as)
            tag = f" [{used}]" if used not in ("utf-8", HEX) else (" [hex]" if used == HEX else "")
            return f"{clock(event.time)}  {event.peer}{tag}  {text}", True
        case ClientConnected():
            return f"{clock(event.time)}  {event.peer} connected", False
        case ClientDisconnected():
            how = f" ({event.reason})" if event.reason else ""
            return (
                f"{clock(event.time)}  {event.peer} disconnected{how}: "
                f"{format_size(event.bytes_in)} in, {format_size(event.bytes_out)} out",
                False,
            )
        case PingProbe():
            if event.outcome == "connected":
                return (
                    f"connected to {event.peer}: seq={event.seq} time={event.rtt_ms:.3f} ms",
                    True,
                )
            if event.outcome == "refused":
                return (
                    f"refused by {event.peer}: seq={event.seq} time={event.rtt_ms:.3f} ms "
                    "(host up, port closed)",
                    True,
                )
            return f"no answer from {event.peer}: seq={event.seq} {event.outcome}", True
        case Notice():
            # notices quote servers and peers (a failure's reason, a listed name): never a
            # raw control character on the terminal, whoever made the text
            return escape_controls(event.text, keep_backslashes=True), False
        case _ as unreachable:
            assert_never(unreachable)


class Reporter:
    """Writes events as lines or JSON; callable, so it can be handed to ``aio`` as ``emit``."""

    def __init__(
        self,
        *,
        json_output: bool = False,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.json_output = json_output
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def __call__(self, event: Event) -> None:
        if self.json_output:
            if not self.quiet or isinstance(event, DATA_EVENTS):  # -q drops notices here too
                self.data(json_line(to_json(event)))
            return
        line, is_data = to_line(event)
        if is_data:
            self.data(line)
        elif not self.quiet:
            self.notice(line)

    def data(self, line: str) -> None:
        """One line of output data (stdout), flushed so pipes see it at once."""
        self.out.write(line + "\n")
        self.out.flush()

    def notice(self, line: str) -> None:
        """One line of information or progress (stderr)."""
        self.err.write(line + "\n")
        self.err.flush()
