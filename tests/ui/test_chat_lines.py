"""Chat output lines: the direct line of a received message equals its styled fragments,
and the line view holds a burst of lines for one write."""

from __future__ import annotations

import asyncio
import io

import pytest

from pigeon.aio.events import Notice
from pigeon.proto.chat.messenger import Delivered, MessageIn, PeerInfo
from pigeon.ui.chat_lines import fragments, plain_line, plain_text
from pigeon.ui.chat_screen import LineView

PEER = PeerInfo(("10.0.0.2", 2425), "bob", "bob", "pc", "", "1_x", "utf-8", False)
EVIL = PeerInfo(("10.0.0.3", 9), "ev\x1b[2Jil", "u", "h", "", "1_x", "gb18030", False)


@pytest.mark.parametrize(
    "event",
    [
        MessageIn(PEER, "hello", "utf-8", False),
        MessageIn(PEER, "hello", "ascii", False, broadcast=True),
        MessageIn(PEER, "你好", "gb18030", False),
        MessageIn(PEER, "00 ff", "hex", True),
        MessageIn(EVIL, "clear\x1b[2J\r\nscreen\\", "utf-8", False),
        MessageIn(PEER, "x" * 2500, "utf-8", False),
        MessageIn(PEER, "", "utf-8", True, broadcast=True),
    ],
)
def test_received_message_line_equals_its_fragments(event: MessageIn) -> None:
    now = 1_700_000_000.25
    parts, is_data = fragments(event, now)
    assert plain_line(event, now) == (plain_text(parts), is_data)
    assert "\x1b" not in plain_line(event, now)[0]


def test_other_events_go_through_fragments() -> None:
    now = 1_700_000_000.0
    delivered = Delivered(3, PEER, 1)
    assert plain_line(delivered, now) == (plain_text(fragments(delivered, now)[0]), True)
    assert plain_line(Notice("hi"), now)[1] is False


def test_line_view_writes_a_burst_once_when_the_loop_turns() -> None:
    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    out, err = Counting(), Counting()
    view = LineView(out=out, err=err)

    async def burst() -> tuple[str, int]:
        for i in range(100):
            view.show(MessageIn(PEER, f"m{i}", "utf-8", False))
        view.show(Notice("a notice"))
        held = out.getvalue()
        await asyncio.sleep(0)
        return held, out.writes

    held, writes = asyncio.run(burst())
    assert held == "" and writes == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 100 and lines[0].endswith("bob: m0") and lines[-1].endswith("bob: m99")
    assert err.getvalue() == "a notice\n" and err.writes == 1


def test_line_view_without_a_loop_writes_at_once() -> None:
    out = io.StringIO()
    view = LineView(out=out, err=io.StringIO())
    view.show(MessageIn(PEER, "late", "utf-8", False))
    assert out.getvalue().endswith("bob: late\n")
