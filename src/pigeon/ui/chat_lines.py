"""How chat events look: one styled line per event for people, one JSON object for scripts.

Every peer-supplied string (names, text, file names, reasons) passes through
``escape_controls``, and so does every notice line (their text is ours, but may quote a
peer): a peer can never move the cursor, recolour or retitle the terminal, or ring its
bell. JSON keeps the exact strings; ``json_line`` keeps the line free of such characters.
Styles are prompt_toolkit class names. Sizes are worded by ``format_size`` (binary units) and
counts by ``plural``, as everywhere in pigeon; JSON keeps exact numbers.
"""

from __future__ import annotations

import functools
import json
import unicodedata
import zlib
from typing import assert_never

from pigeon.events import (
    HistoryEntry,
    HistoryView,
    Notice,
    OfferEnd,
    OfferEnded,
    OfferView,
    PeerTable,
    SessionEvent,
    TargetChanged,
    TransferKind,
    TransferNote,
)
from pigeon.proto.chat import ipmsg_files as files
from pigeon.proto.chat.events import (
    Delivered,
    Flooded,
    MessageIn,
    MessageOut,
    NotDelivered,
    PeerChange,
    PeerChanged,
    PeerInfo,
    Released,
)
from pigeon.proto.text import HEX, escape_controls, format_size, plural
from pigeon.ui.report import clock, iso

Fragments = list[tuple[str, str]]
PALETTE = ("ansicyan", "ansigreen", "ansimagenta", "ansiyellow", "ansiblue", "ansired")


def peer_style(peer: PeerInfo) -> str:
    """A colour that stays the same for one peer address."""
    return _address_style(peer.addr)


@functools.lru_cache(maxsize=1024)
def _address_style(addr: tuple[str, int]) -> str:
    key = f"{addr[0]}:{addr[1]}".encode()
    return f"bold {PALETTE[zlib.crc32(key) % len(PALETTE)]}"


SHOWN_CHARS = 2000
"""A longer message is cut on screen (``--json`` has it whole)."""


def _text(text: str) -> str:
    if len(text) <= SHOWN_CHARS:
        return escape_controls(text)
    more = plural(len(text) - SHOWN_CHARS, "more character")
    return f"{escape_controls(text[:SHOWN_CHARS])} … ({more} not shown)"


def _name(peer: PeerInfo) -> str:
    return escape_controls(peer.name)


def cells(text: str) -> int:
    """The terminal cells ``text`` takes: two for a wide or full-width character (Chinese,
    Japanese, Korean: East Asian width W or F), none for a combining mark, one otherwise."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return width


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` cells, ending in '…' when cut."""
    if cells(text) <= width:
        return text
    kept, used = [], 0
    for ch in text:
        size = cells(ch)
        if used + size > width - 1:
            break
        kept.append(ch)
        used += size
    return "".join(kept) + "…"


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` cells (str.ljust counts characters, and a
    Chinese name of 4 characters takes 8 cells)."""
    return text + " " * max(0, width - cells(text))


NAME_CELLS = 20
GROUP_CELLS = 16
"""Widest name and group column in a peer table; longer ones are cut ('…'), so the columns
stay aligned (--json has them whole)."""


def _peer_rows(peers: tuple[PeerInfo, ...]) -> str:
    """The peer table, one row per peer, its columns aligned in terminal cells."""
    table = []
    for peer in peers:
        kind = "plain" if peer.plain else (escape_controls(peer.version) or "ip messenger")
        who = f"{escape_controls(peer.user)}@{escape_controls(peer.host)}" if peer.user else ""
        table.append(
            (
                fit(_name(peer), NAME_CELLS),
                peer.endpoint,
                fit(f"[{escape_controls(peer.group)}]", GROUP_CELLS) if peer.group else "",
                who,
                f"{kind}, {escape_controls(peer.encoding)}",
            )
        )
    widths = [max(cells(row[i]) for row in table) for i in range(4)]
    lines = []
    for row in table:
        columns = [pad(text, width) for text, width in zip(row[:4], widths, strict=True)]
        lines.append(
            "  " + "  ".join(c for c, w in zip(columns, widths, strict=True) if w) + "  " + row[4]
        )
    return "\n".join(lines)


def _tag(event: MessageIn) -> str:
    tags = []
    if event.plain:
        tags.append("plain")
    if event.broadcast:
        tags.append("all")
    if event.encoding not in ("utf-8", "ascii"):
        tags.append("hex" if event.encoding == HEX else event.encoding)
    return f" [{', '.join(tags)}]" if tags else ""


def plain_line(event: SessionEvent, now: float) -> tuple[str, bool]:
    """The unstyled line for ``event`` (``fragments`` joined) and whether it is data."""
    parts, is_data = fragments(event, now)
    return plain_text(parts), is_data


def fragments(event: SessionEvent, now: float) -> tuple[Fragments, bool]:
    """Styled pieces of the line for ``event`` and whether it is data (stdout)."""
    match event:
        case MessageIn():  # first: the common line of a busy chat
            return _message_in(event, now), True
        case MessageOut():
            return _message_out(event, now, " …" if event.acked else ""), True
        case Delivered() | NotDelivered():
            return _outcome(event, now), True
        case PeerChanged():
            return _peer_changed(event, now), True
        case Flooded():
            # an IP address, made from the socket's address: no peer-chosen text
            host = event.host or "new hosts"
            why = f"! dropped {plural(event.dropped, 'datagram')} from {host} (flooding)"
            return [_stamp(now), ("class:bad", why)], True
        case PeerTable():
            if not event.peers:
                return [("class:meta", "no peers yet")], True
            rows = _peer_rows(event.peers)
            return [("class:meta", f"{plural(len(event.peers), 'peer')}:\n"), ("", rows)], True
        case TargetChanged():
            where = "" if event.peer.name == event.peer.endpoint else f" ({event.peer.endpoint})"
            return [
                ("class:meta", "now talking to "),
                (peer_style(event.peer), _name(event.peer)),
                ("class:meta", where),
            ], False
        case HistoryView():
            return [_history(event)], True
        case OfferView():
            return _offer_view(event, now), True
        case TransferNote():
            return [_stamp(now), _transfer_fragment(event)], True
        case Released():
            released = f"{_name(event.peer)} released {event.packet_no}"
            return [_stamp(now), ("class:meta", released)], False
        case OfferEnded():
            return _offer_ended(event), False
        case Notice():
            return [("class:meta", _notice_text(event.text))], False
        case _ as unreachable:
            assert_never(unreachable)


def _stamp(now: float) -> tuple[str, str]:
    return ("class:time", clock(now) + "  ")


def _message_in(event: MessageIn, now: float) -> Fragments:
    return [
        _stamp(now),
        (peer_style(event.peer), _name(event.peer)),
        ("class:meta", _tag(event)),
        ("", ": " + _text(event.text)),
    ]


def _outcome(event: Delivered | NotDelivered, now: float) -> Fragments:
    who = (peer_style(event.peer), _name(event.peer))
    if isinstance(event, Delivered):
        return [_stamp(now), ("class:ok", f"✓ #{event.msg_id} delivered to "), who]
    return [
        _stamp(now),
        ("class:bad", f"✗ #{event.msg_id} NOT delivered to "),
        who,
        ("class:bad", f" (no acknowledgement after {_tries(event.tries)})"),
    ]


def _peer_changed(event: PeerChanged, now: float) -> Fragments:
    peer = event.peer
    match event.change:
        case PeerChange.LEFT:
            what = " left"
        case PeerChange.UPDATED:
            what = " updated" + (f" (group {escape_controls(peer.group)})" if peer.group else "")
        case PeerChange.JOINED:
            kind = "plain udp" if peer.plain else escape_controls(peer.version)
            group = f", group {escape_controls(peer.group)}" if peer.group else ""
            what = f" joined ({peer.endpoint}{group}, {kind})"
        case _ as unreachable:
            assert_never(unreachable)
    return [
        _stamp(now),
        ("class:meta", "* "),
        (peer_style(peer), _name(peer)),
        ("class:meta", what),
    ]


def _history(event: HistoryView) -> tuple[str, str]:
    if not event.entries:
        return ("class:meta", "no messages yet")
    lines = [
        f"{clock(e.time)}  {'→ ' if e.outgoing else ''}{escape_controls(e.peer)}: "
        f"{escape_controls(e.text)}  ({e.state.value})"
        for e in event.entries
    ]
    return ("", "\n".join(lines))


def _offer_view(event: OfferView, now: float) -> Fragments:
    listed = ", ".join(_entry_text(e) for e in event.entries)
    who = (peer_style(event.peer), _name(event.peer))
    if event.incoming:
        how = f"  (/get {event.index} [DEST] to download, /cancel {event.index} to decline)"
        return [
            _stamp(now),
            ("class:ok", f"offer #{event.index} from "),
            who,
            ("", ": " + listed),
            ("class:meta", how),
        ]
    return [
        _stamp(now),
        ("class:meta", f"offer #{event.index} → "),
        who,
        ("", ": " + listed),
        ("class:meta", f"  (/cancel {event.index} withdraws it)"),
    ]


def _message_out(event: MessageOut, now: float, mark: str) -> Fragments:
    return [
        ("class:time", clock(now) + "  "),
        ("class:meta", f"#{event.msg_id} → "),
        (peer_style(event.peer), _name(event.peer)),
        ("", ": " + (_text(event.text) or "(files offered)")),
        ("class:meta", mark),
    ]


def marked(event: MessageOut, outcome: Delivered | NotDelivered, sent_at: float) -> Fragments:
    """The line of our message ``event`` (sent at ``sent_at``) with its outcome joined to it:
    a terminal rewrites the message's line so, instead of adding a line for the mark."""
    if isinstance(outcome, Delivered):
        return [*_message_out(event, sent_at, ""), ("class:ok", " ✓")]
    why = f" ✗ NOT delivered (no acknowledgement after {_tries(outcome.tries)})"
    return [*_message_out(event, sent_at, ""), ("class:bad", why)]


def _notice_text(text: str) -> str:
    """A notice, each of its lines escaped (a notice such as /help has several)."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def _offer_ended(event: OfferEnded) -> Fragments:
    who = (peer_style(event.peer), _name(event.peer))
    match event.kind:
        case OfferEnd.REFUSED:
            reason = escape_controls(event.reason)
            return [("class:bad", "offer from "), who, ("class:bad", f" refused: {reason}")]
        case OfferEnd.DECLINED:
            return [who, ("class:meta", f" declined offer #{event.index}")]
        case OfferEnd.WITHDREW:
            return [who, ("class:meta", f" withdrew offer #{event.index}")]
        case _ as unreachable:
            assert_never(unreachable)


def _tries(tries: int) -> str:
    return plural(tries, "try", "tries")


def _entry_text(entry: files.FileEntry) -> str:
    name = escape_controls(entry.name)
    return f"{name}/ (folder)" if entry.is_dir else f"{name} ({format_size(entry.size)})"


def _transfer_fragment(note: TransferNote) -> tuple[str, str]:
    name = escape_controls(note.name)
    who = escape_controls(note.peer)
    detail = escape_controls(note.detail)
    match note.kind:
        case TransferKind.SENDING:
            start = f" from byte {note.done}" if note.done else ""
            return ("class:meta", f"#{note.index} sending {name} to {who}{start}")
        case TransferKind.SENT:
            return ("class:ok", f"✓ #{note.index} {name} sent to {who} ({format_size(note.done)})")
        case TransferKind.REFUSED:
            return ("class:bad", f"! refused a file request from {who}: {detail}")
        case TransferKind.PROGRESS:
            pct = f"{100 * note.done / note.total:.0f}%" if note.total else "?"
            more = f" — {detail}" if detail else ""
            return ("class:meta", f"#{note.index} {name} {pct} ({format_size(note.done)}){more}")
        case TransferKind.RECEIVED:
            return (
                "class:ok",
                f"✓ #{note.index} {name} received from {who} ({format_size(note.done)}) → {detail}",
            )
        case TransferKind.FAILED:
            return ("class:bad", f"✗ #{note.index} {name} failed: {detail}")
        case _ as unreachable:
            assert_never(unreachable)


def plain_text(parts: Fragments) -> str:
    """The fragments as an unstyled line."""
    return "".join([text for _style, text in parts])


def _peer_json(peer: PeerInfo) -> dict[str, object]:
    return {
        "name": peer.name,
        "address": peer.endpoint,
        "user": peer.user,
        "host": peer.host,
        "group": peer.group,
        "version": peer.version,
        "encoding": peer.encoding,
        "plain": peer.plain,
    }


def to_json(event: SessionEvent, now: float) -> dict[str, object]:
    """The JSON object for ``event``; ``type`` names it."""
    stamp = iso(now)
    match event:
        case MessageIn():
            return {
                "type": "message",
                "time": stamp,
                "from": event.peer.endpoint,
                "name": event.peer.name,
                "text": event.text,
                "encoding": event.encoding,
                "plain": event.plain,
                "broadcast": event.broadcast,
            }
        case MessageOut():
            return {
                "type": "sent",
                "time": stamp,
                "id": event.msg_id,
                "to": "all" if event.broadcast else event.peer.endpoint,
                "name": event.peer.name,
                "text": event.text,
                "ack": event.acked,
                "packet": event.packet_no,
                "broadcast": event.broadcast,
            }
        case Delivered() | NotDelivered():
            return {
                "type": "delivered" if isinstance(event, Delivered) else "not_delivered",
                "time": stamp,
                "id": event.msg_id,
                "to": event.peer.endpoint,
                "tries": event.tries,
            }
        case PeerChanged():
            peer = _peer_json(event.peer)
            return {"type": "peer", "time": stamp, "change": event.change.value, "peer": peer}
        case Flooded():
            return {
                "type": "flood",
                "time": stamp,
                "from": event.host or None,  # None: hosts not yet settled, together
                "dropped": event.dropped,
            }
        case Released():
            endpoint = event.peer.endpoint
            return {"type": "released", "time": stamp, "from": endpoint, "packet": event.packet_no}
        case _:
            return _session_json(event, stamp)


def _session_json(
    event: PeerTable | TargetChanged | HistoryView | OfferView | TransferNote | OfferEnded | Notice,
    stamp: str,
) -> dict[str, object]:
    """``to_json`` of the session's own events (not the messenger's)."""
    match event:
        case PeerTable():
            return {"type": "peers", "peers": [_peer_json(p) for p in event.peers]}
        case TargetChanged():
            return {"type": "target", "peer": _peer_json(event.peer)}
        case HistoryView():
            return {"type": "history", "entries": [_history_json(e) for e in event.entries]}
        case OfferView():
            return {
                "type": "offer",
                "time": stamp,
                "index": event.index,
                "incoming": event.incoming,
                "peer": event.peer.endpoint,
                "name": event.peer.name,
                "files": [
                    {"name": e.name, "size": e.size, "folder": e.is_dir, "mtime": e.mtime}
                    for e in event.entries
                ],
            }
        case TransferNote():
            return {
                "type": "transfer",
                "time": stamp,
                "state": event.kind.value,
                "index": event.index,
                "file": event.name,
                "peer": event.peer,
                "bytes": event.done,
                "total": event.total,
                "detail": event.detail,
            }
        case OfferEnded():
            return {
                "type": "notice",
                "text": plain_text(_offer_ended(event)),
                "kind": event.kind.value,
                "index": event.index,
                "peer": event.peer.endpoint,
                "name": event.peer.name,
                "reason": event.reason,
            }
        case Notice():
            return {"type": "notice", "text": event.text, **event.extra}
        case _ as unreachable:
            assert_never(unreachable)


def _history_json(entry: HistoryEntry) -> dict[str, object]:
    return {
        "time": iso(entry.time),
        "outgoing": entry.outgoing,
        "peer": entry.peer,
        "text": entry.text,
        "state": entry.state.value,
    }


def json_line(event: SessionEvent, now: float) -> str:
    """``to_json`` as one line of JSON text. Strings stay exact; a line that would carry a
    character a terminal may act on (C1 controls, bidi overrides, DEL: JSON escapes only
    C0) is written with every non-ASCII character as a ``\\u`` escape instead."""
    doc = to_json(event, now)
    line = json.dumps(doc, ensure_ascii=False)
    if line.isprintable():
        return line
    bare = line.replace("\\", "")  # escape_controls would double JSON's own backslashes
    if escape_controls(bare) == bare:
        return line  # only spaces isprintable() refuses, such as U+3000 in Chinese text
    return json.dumps(doc).replace("\x7f", "\\u007f")
