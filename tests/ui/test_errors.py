"""ui.errors: a failure is one line, and a peer's text in it cannot drive the terminal."""

from __future__ import annotations

import pytest

from pigeon.errors import ProtocolError
from pigeon.ui.errors import show_error


def test_control_characters_in_an_error_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    show_error(ProtocolError("http://h/f: bad Content-Type '\x1b[2J\x07text/html'"))
    err = capsys.readouterr().err
    assert err.startswith("pigeon: http://h/f: bad Content-Type ")
    assert "\x1b" not in err and "\x07" not in err and err.count("\n") == 1
