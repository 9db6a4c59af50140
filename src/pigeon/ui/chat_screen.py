"""The two faces of ``pigeon chat``: a terminal screen and a plain line stream for scripts.

On a terminal, prompt_toolkit owns the input line and every event is printed above it, so
what the user is typing is never clobbered. A message takes one line: the typed line is
erased when entered and the message's own line (time, peer, text, ``…``) replaces it, and
the acknowledgement turns its ``…`` into ``✓`` in place when that line is still the last one
above the input line and fits in one row; otherwise the mark is a short line of its own.
Otherwise (piped) each stdin line is input and each event one output line (or one JSON
object with ``--json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

from pigeon.events import Notice, SessionEvent, TargetChanged
from pigeon.proto.chat.events import Delivered, MessageOut, NotDelivered, PeerChanged
from pigeon.proto.text import escape_controls
from pigeon.ui.chat_lines import (
    Fragments,
    cells,
    fragments,
    json_line,
    marked,
    plain_line,
    plain_text,
)

if TYPE_CHECKING:
    from prompt_toolkit.formatted_text import AnyFormattedText


class LineView:
    """Input from stdin lines; events as lines (data on stdout, notices on stderr) or JSON."""

    def __init__(
        self, *, json_output: bool = False, out: TextIO | None = None, err: TextIO | None = None
    ) -> None:
        self.json_output = json_output
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._held: tuple[list[str], list[str]] = ([], [])  # lines for out, lines for err
        self._flush_pending = False

    def show(self, event: SessionEvent) -> None:
        """Print ``event``; written before the event loop next waits, so a pipe sees it at
        once while a burst of messages costs one write, not one per line (also when Python
        runs unbuffered)."""
        now = time.time()
        if self.json_output:
            self._held[0].append(json_line(event, now) + "\n")
        else:
            line, is_data = plain_line(event, now)
            self._held[0 if is_data else 1].append(line + "\n")
        if not self._flush_pending:
            self._flush_soon()

    def _flush_soon(self) -> None:
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop (after the command ended): write now
            self.flush()
            return
        self._flush_pending = True

    def flush(self) -> None:
        """Write and flush the lines held so far."""
        self._flush_pending = False
        for stream, held in zip((self.out, self.err), self._held, strict=True):
            if not held:
                continue
            text = "".join(held)
            held.clear()
            with contextlib.suppress(ValueError):  # closed at exit
                stream.write(text)
                stream.flush()


STYLE_RULES = {
    "time": "#888888",
    "meta": "#888888",
    "ok": "ansigreen",
    "bad": "ansired bold",
    "prompt": "bold",
}


REWRITE_LAST = "\x1b[A\r\x1b[2K"
"""Up one row to the last line printed (the input line was erased above it), column 0, erase."""


class TerminalView:
    """A prompt_toolkit input line with events printed above it."""

    def __init__(self, nick: str) -> None:
        from prompt_toolkit.styles import Style

        self.nick = nick
        self.target = ""
        self.target_addr: tuple[str, int] | None = None
        self.style = Style.from_dict(STYLE_RULES)
        self._open: tuple[MessageOut, float] | None = None
        """The last line printed, when it is our message awaiting its mark on one row."""

    def show(self, event: SessionEvent) -> None:
        """Print ``event`` above the input line, in colour."""
        if isinstance(event, TargetChanged):
            self.target_addr = event.peer.addr
        if isinstance(event, TargetChanged | PeerChanged) and event.peer.addr == self.target_addr:
            self.target = escape_controls(event.peer.name)  # the prompt follows renames
        if isinstance(event, Notice) and isinstance(event.extra.get("nick"), str):
            self.nick = escape_controls(str(event.extra["nick"]))  # the prompt follows /nick
        now = time.time()
        if isinstance(event, Delivered | NotDelivered) and self._open is not None:
            sent, sent_at = self._open
            line = marked(sent, event, sent_at)
            if sent.msg_id == event.msg_id and cells(plain_text(line)) < _columns():
                self._open = None
                self._print([("[ZeroWidthEscape]", REWRITE_LAST), *line])
                return
        parts, _is_data = fragments(event, now)
        self._open = None
        if (
            isinstance(event, MessageOut)
            and event.acked
            and cells(plain_text(parts)) + 2 < _columns()  # room for the mark on its row
        ):
            self._open = (event, now)
        self._print(parts)

    def _print(self, parts: Fragments) -> None:
        """One line above the input line (prompt_toolkit erases the input line, prints, and
        draws it again below; with no prompt running it prints where the cursor is, at the
        start of the line the input line was erased from)."""
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        print_formatted_text(FormattedText(parts), style=self.style)

    def _prompt(self) -> AnyFormattedText:
        where = f" → {self.target}" if self.target else " (no peer: /to NAME)"
        return [("class:prompt", f"{self.nick}{where}> ")]

    async def lines(self) -> AsyncIterator[str]:
        """Lines typed by the user until Ctrl-D or Ctrl-C."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout

        # erase_when_done: an entered line leaves the screen; what it did is shown instead
        # (a message's own line, a command's answer), so nothing is said twice.
        session: PromptSession[str] = PromptSession(style=self.style, erase_when_done=True)
        with patch_stdout(raw=True):
            while True:
                try:
                    line = await session.prompt_async(self._prompt)
                except (EOFError, KeyboardInterrupt):
                    return
                yield line


def _columns() -> int:
    """The terminal's width in cells, asked of the terminal itself (a COLUMNS variable
    inherited from elsewhere may be stale); 80 when it cannot be told."""
    import os

    out = sys.__stdout__
    try:
        return os.get_terminal_size(out.fileno()).columns if out is not None else 80
    except (ValueError, OSError):
        return 80
