"""ui.stream: a peer's bytes on a terminal — escaped as udp recv's lines are, line breaks
kept, UTF-8 and CRLF split across chunks joined."""

from __future__ import annotations

import pytest

from pigeon.ui.stream import TerminalStream

PEER = "héllo \x1b[2J\x1b]0;t\x07 中文 \u202eevil\r\nline\\two\n".encode() + b"\xff\xc2\x9b end\r"
SHOWN = (
    "héllo \\x1b[2J\\x1b]0;t\\x07 中文 \\u202eevil\nline\\\\two\n"  # a backslash is doubled
    "\\xff\\x9b end\\r"  # not UTF-8: the byte; U+009B (C1 CSI): escaped
)


@pytest.mark.parametrize("step", [1, 2, 3, 7, len(PEER)])
def test_chunks_of_any_size_show_the_same(step: int) -> None:
    out: list[str] = []
    stream = TerminalStream(out.append)
    for i in range(0, len(PEER), step):
        stream(PEER[i : i + step])
    stream.close()
    assert "".join(out) == SHOWN
    assert not any(ch in "".join(out) for ch in "\x1b\x07\x9b\u202e\r")


def test_a_sequence_cut_by_the_end_of_the_stream_is_shown_as_bytes() -> None:
    out: list[str] = []
    stream = TerminalStream(out.append)
    stream("ok 中".encode()[:-1])
    stream.close()
    assert "".join(out) == "ok \\xe4\\xb8"
