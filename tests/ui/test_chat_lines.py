"""Chat output lines: what the line of a received message says (time, peer, tags, text,
escaped and cut), that every line comes from its styled fragments, and that the line view
holds a burst of lines for one write."""

from __future__ import annotations

import asyncio
import io
import re

import pytest

from pigeon.events import Notice
from pigeon.proto.chat.events import Delivered, MessageIn, PeerInfo
from pigeon.ui.chat_lines import fragments, peer_style, plain_line
from pigeon.ui.chat_screen import LineView

PEER = PeerInfo(("10.0.0.2", 2425), "bob", "bob", "pc", "", "1_x", "utf-8", False)
EVIL = PeerInfo(("10.0.0.3", 9), "ev\x1b[2Jil", "u", "h", "", "1_x", "gb18030", False)
NOW = 1_700_000_000.25
TIME = r"\d\d:\d\d:\d\d\.250  "
"""A line starts with the local time to the millisecond and two spaces."""


@pytest.mark.parametrize(
    ("event", "rest"),
    [
        (MessageIn(PEER, "hello", "utf-8", False), "bob: hello"),
        (MessageIn(PEER, "hello", "ascii", False, broadcast=True), "bob [all]: hello"),
        (MessageIn(PEER, "你好", "gb18030", False), "bob [gb18030]: 你好"),
        (MessageIn(PEER, "00 ff", "hex", True), "bob [plain, hex]: 00 ff"),
        (MessageIn(PEER, "", "utf-8", True, broadcast=True), "bob [plain, all]: "),
        (
            MessageIn(EVIL, "clear\x1b[2J\r\nscreen\\", "utf-8", False),
            r"ev\x1b[2Jil: clear\x1b[2J\r\nscreen\\",
        ),
        (
            MessageIn(PEER, "x" * 2500, "utf-8", False),
            "bob: " + "x" * 2000 + " … (500 more characters not shown)",
        ),
    ],
)
def test_a_received_message_line_says_time_peer_tags_and_text(event: MessageIn, rest: str) -> None:
    line, is_data = plain_line(event, NOW)
    assert re.fullmatch(TIME + re.escape(rest), line), line
    assert is_data  # on stdout, with the other messages
    assert "\x1b" not in line and "\r" not in line and "\n" not in line


def test_the_peer_name_is_styled_in_the_colour_of_its_address() -> None:
    parts, _data = fragments(MessageIn(PEER, "hi", "utf-8", False), NOW)
    assert (peer_style(PEER), "bob") in parts
    assert parts[0][0] == "class:time"


def test_outcomes_are_data_and_notices_are_not() -> None:
    line, is_data = plain_line(Delivered(3, PEER, 1), NOW)
    assert re.fullmatch(TIME + "✓ #3 delivered to bob", line) and is_data
    assert plain_line(Notice("hi"), NOW) == ("hi", False)


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
