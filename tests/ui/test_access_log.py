"""ui.access_log: ``pigeon serve``'s access log lines, as they were when aio wrote them."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

from pigeon.events import RequestServed
from pigeon.ui.report import Reporter, to_json

BASE = RequestServed(1_700_000_000.5, "127.0.0.1:5555", "GET", "/small.txt", 200, 13, 1.23456)


def served(**changes: Any) -> RequestServed:
    return dataclasses.replace(BASE, **changes)


def printed(event: RequestServed) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    Reporter(out=out, err=err)(event)
    return out.getvalue(), err.getvalue()


def test_a_text_line_on_stderr() -> None:
    assert printed(served()) == ("", '127.0.0.1:5555 "GET /small.txt" 200 13 1.2ms\n')
    cut = printed(served(status=0, sent=0, cut=True))[1]
    assert cut == '127.0.0.1:5555 "GET /small.txt" 0 0 1.2ms cut\n'


def test_a_path_that_does_not_print_is_escaped() -> None:
    line = printed(served(method="LEGACY", path="a\x1b[31m\n中"))[1]
    assert line == '127.0.0.1:5555 "LEGACY a\\x1b[31m\\n\\u4e2d" 200 13 1.2ms\n'
    assert printed(served(path="/中文.txt"))[1].startswith('127.0.0.1:5555 "GET /中文.txt"')


def test_a_json_line_marks_remembered_and_cut_answers() -> None:
    plain = json.loads(printed(served(as_json=True))[1])
    assert plain == {
        "time": 1_700_000_000.5,
        "client": "127.0.0.1:5555",
        "method": "GET",
        "path": "/small.txt",
        "status": 200,
        "bytes": 13,
        "ms": 1.235,
    }
    marked = json.loads(printed(served(as_json=True, remembered=True, cut=True))[1])
    assert marked["remembered"] is True and marked["cut"] is True
    assert '"path": "/中"' in printed(served(as_json=True, path="/中"))[1]  # not \\u-escaped


def test_reporter_json_names_the_event() -> None:
    assert to_json(served())["type"] == "request"
    assert to_json(served())["bytes"] == 13
