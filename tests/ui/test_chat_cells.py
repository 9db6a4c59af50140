"""Terminal cells (CJK takes two), the aligned peer table, and the one-line message on a
terminal: the mark joins the message's line when it is the last one and fits a row."""

from __future__ import annotations

import pytest

from pigeon.events import PeerTable
from pigeon.proto.chat.events import Delivered, MessageIn, MessageOut, NotDelivered, PeerInfo
from pigeon.ui import chat_screen
from pigeon.ui.chat_lines import cells, fit, pad, plain_line, plain_text
from pigeon.ui.chat_screen import REWRITE_LAST, TerminalView


def peer(name: str, port: int, group: str = "") -> PeerInfo:
    return PeerInfo(("10.0.0.2", port), name, "u", "h", group, "1_pigeon", "utf-8", False)


@pytest.mark.parametrize(
    ("text", "width"),
    [("alice", 5), ("鲍勃", 4), ("ｆｕｌｌ", 8), ("e\u0301", 1), ("한국어", 6), ("…", 1), ("", 0)],
)
def test_cells(text: str, width: int) -> None:
    assert cells(text) == width


def test_fit_and_pad_count_cells() -> None:
    assert fit("李小龙的朋友", 7) == "李小龙…" and cells(fit("李小龙的朋友", 7)) == 7
    assert fit("alice", 20) == "alice"
    assert pad("鲍勃", 6) == "鲍勃  " and pad("bob", 6) == "bob   "


def test_the_peer_table_aligns_every_column_in_cells() -> None:
    table = PeerTable(
        (peer("鲍勃", 1, "研发"), peer("alice", 22222, "qa"), peer("李" * 30, 333, "测试组"))
    )
    line, _data = plain_line(table, 0.0)
    rows = line.splitlines()[1:]
    for needle in ("10.0.0.2:", "[", "u@h"):
        assert len({cells(row[: row.index(needle)]) for row in rows}) == 1, rows
    assert all(cells(row) <= 90 for row in rows)  # the long name was cut, not the table


def test_the_form_that_worked_ascii_names_still_align() -> None:
    line, _data = plain_line(PeerTable((peer("bob", 1), peer("alice", 22))), 0.0)
    rows = line.splitlines()[1:]
    assert rows[0].index("10.0.0.2") == rows[1].index("10.0.0.2")


class Screen:
    """A TerminalView whose lines go to a list, on a terminal ``columns`` wide."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, columns: int = 100) -> None:
        monkeypatch.setattr(chat_screen, "_columns", lambda: columns)
        self.view = TerminalView("alice")
        self.printed: list[str] = []
        # mypy refuses assigning to a method; the test replaces the printer on purpose.
        self.view._print = lambda parts: self.printed.append(plain_text(parts))  # type: ignore[method-assign]


BOB = peer("鲍勃", 2425)


def test_the_mark_joins_the_message_line(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Screen(monkeypatch)
    screen.view.show(MessageOut(1, BOB, "hello", True, 9))
    screen.view.show(Delivered(1, BOB, 1))
    first, joined = screen.printed
    assert first.endswith("#1 → 鲍勃: hello …")
    assert joined.startswith(REWRITE_LAST) and joined.endswith("#1 → 鲍勃: hello ✓")
    assert joined[len(REWRITE_LAST) :].split("  ")[0] == first.split("  ")[0]  # its time
    screen.view.show(MessageOut(2, BOB, "lost", True, 10))
    screen.view.show(NotDelivered(2, BOB, 6))
    assert screen.printed[-1].endswith("lost ✗ NOT delivered (no acknowledgement after 6 tries)")


def test_the_mark_is_a_short_line_when_the_message_line_is_not_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = Screen(monkeypatch)
    screen.view.show(MessageOut(1, BOB, "hello", True, 9))
    screen.view.show(MessageIn(BOB, "meanwhile", "utf-8", False))
    screen.view.show(Delivered(1, BOB, 1))
    assert screen.printed[-1].endswith("✓ #1 delivered to 鲍勃")
    assert not screen.printed[-1].startswith(REWRITE_LAST)


def test_the_mark_is_a_short_line_when_the_line_takes_more_than_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = Screen(monkeypatch, columns=40)
    screen.view.show(MessageOut(1, BOB, "长" * 10, True, 9))  # 20 cells of text, 46 in all
    screen.view.show(Delivered(1, BOB, 1))
    assert screen.printed[-1].endswith("✓ #1 delivered to 鲍勃")
    screen.view.show(MessageOut(2, BOB, "ok", True, 9))  # fits, but the mark would not
    screen.view.show(NotDelivered(2, BOB, 6))
    assert not screen.printed[-1].startswith(REWRITE_LAST)
