"""The two faces of ``pigeon chat``: a terminal screen and a plain line stream for scripts.

On a terminal, prompt_toolkit owns the input line and incoming events are printed above it,
so what the user is typing is never clobbered. Otherwise each stdin line is input and each
event one output line (or one JSON object with ``--json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

from pigeon.aio.chat import SessionEvent, TargetChanged
from pigeon.aio.stdin import stdin_lines
from pigeon.proto.messenger import PeerChanged
from pigeon.proto.text import escape_controls
from pigeon.ui.chat_lines import fragments, json_line, plain_line

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

    async def lines(self) -> AsyncIterator[str]:
        """Standard input, line by line, decoded as the terminal's charset (UTF-8 default)."""
        encoding = (sys.stdin.encoding if sys.stdin else None) or "utf-8"
        async for line in stdin_lines():
            yield line.decode(encoding, "replace")


STYLE_RULES = {
    "time": "#888888",
    "meta": "#888888",
    "ok": "ansigreen",
    "bad": "ansired bold",
    "prompt": "bold",
}


class TerminalView:
    """A prompt_toolkit input line with events printed above it."""

    def __init__(self, nick: str) -> None:
        from prompt_toolkit.styles import Style

        self.nick = nick
        self.target = ""
        self.target_addr: tuple[str, int] | None = None
        self.style = Style.from_dict(STYLE_RULES)

    def show(self, event: SessionEvent) -> None:
        """Print ``event`` above the input line, in colour."""
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        if isinstance(event, TargetChanged):
            self.target_addr = event.peer.addr
        if isinstance(event, TargetChanged | PeerChanged) and event.peer.addr == self.target_addr:
            self.target = escape_controls(event.peer.name)  # the prompt follows renames
        parts, _is_data = fragments(event, time.time())
        print_formatted_text(FormattedText(parts), style=self.style)

    def _prompt(self) -> AnyFormattedText:
        where = f" → {self.target}" if self.target else " (no peer: /to NAME)"
        return [("class:prompt", f"{self.nick}{where}> ")]

    async def lines(self) -> AsyncIterator[str]:
        """Lines typed by the user until Ctrl-D or Ctrl-C."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.patch_stdout import patch_stdout

        session: PromptSession[str] = PromptSession(style=self.style)
        with patch_stdout(raw=True):
            while True:
                try:
                    line = await session.prompt_async(self._prompt)
                except (EOFError, KeyboardInterrupt):
                    return
                yield line
