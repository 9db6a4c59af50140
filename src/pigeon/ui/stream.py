"""A peer's byte stream shown on a terminal (``pigeon tcp connect`` when stdout is one).

Decoded as UTF-8 across chunk boundaries; line breaks are kept (``\\r\\n`` shown as one);
every other control, format or bidi character is escaped by ``proto.text.escape_controls``,
the escaping ``udp recv`` lines get, so a peer can never drive the terminal; bytes that are
not UTF-8 show as ``\\xNN``. Piped output is never given to this: it stays byte-exact.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable

from pigeon.proto.text import escape_controls

_UNDECODED = re.compile("([\udc80-\udcff]+)")
"""Bytes the UTF-8 decoder could not read, as ``surrogateescape`` hands them over."""


def _escaped(text: str) -> str:
    parts = _UNDECODED.split(text)
    for i in range(1, len(parts), 2):  # odd parts: undecodable bytes
        parts[i] = "".join(f"\\x{ord(ch) - 0xDC00:02x}" for ch in parts[i])
    for i in range(0, len(parts), 2):
        parts[i] = escape_controls(parts[i])
    return "".join(parts)


class TerminalStream:
    """Call with each chunk of peer bytes; ``close`` shows what an unfinished UTF-8
    sequence or a held ``\\r`` left over."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._held = ""  # a chunk's last "\r": the next may start with its "\n"

    def __call__(self, data: bytes) -> None:
        self._show(self._held + self._decoder.decode(data), final=False)

    def close(self) -> None:
        """The stream ended: show anything held back."""
        self._show(self._held + self._decoder.decode(b"", True), final=True)

    def _show(self, text: str, *, final: bool) -> None:
        self._held = ""
        if not final and text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        lines = text.split("\n")
        shown = [_escaped(line.removesuffix("\r")) for line in lines[:-1]]
        shown.append(_escaped(lines[-1]))
        out = "\n".join(shown)
        if out:
            self._write(out)


def write_to_terminal(text: str) -> None:
    """Write ``text`` (what ``TerminalStream`` shows) to stdout at once, in the terminal's
    encoding; a character it cannot show is written as its escape."""
    encoding = sys.stdout.encoding or "utf-8"
    sys.stdout.buffer.write(text.encode(encoding, "backslashreplace"))
    sys.stdout.buffer.flush()
