"""``pigeon serve``'s access log lines: one per answer, text or JSON as the user asked.

Text: ``peer "METHOD path" status bytes 1.2ms`` (`` cut`` when the answer ended early), the
path escaped when it holds characters that do not print. JSON: one object per line, marking
answers sent from memory (``remembered``) and cut ones (``cut``).
"""

from __future__ import annotations

import json

from pigeon.events import RequestServed


def access_record(event: RequestServed) -> dict[str, object]:
    """The JSON object of one access-log line."""
    return {
        "time": event.time,
        "client": event.peer,
        "method": event.method,
        "path": event.path,
        "status": event.status,
        "bytes": event.sent,
        "ms": round(event.ms, 3),
        **({"remembered": True} if event.remembered else {}),
        **({"cut": True} if event.cut else {}),
    }


def access_line(event: RequestServed) -> str:
    """One access-log line, as ``--log-format`` asked."""
    if event.as_json:
        return json.dumps(access_record(event), ensure_ascii=False)
    path = event.path
    shown = path.encode("unicode_escape").decode("ascii") if not path.isprintable() else path
    line = f'{event.peer} "{event.method} {shown}" {event.status} {event.sent} {event.ms:.1f}ms'
    return line + (" cut" if event.cut else "")
