"""The words of chat lines: who flooded, sizes in binary units, counts in the right number."""

from __future__ import annotations

from pigeon.proto.messenger import Flooded
from pigeon.ui.chat_lines import fragments, plain_text, to_json


def line(event: object) -> str:
    parts, _data = fragments(event, 0.0)  # type: ignore[arg-type]
    return plain_text(parts)


def test_a_flood_names_the_host_or_says_new_hosts() -> None:
    assert "from 2001:db8::/64 (flooding)" in line(Flooded("2001:db8::/64", 7))
    assert "from new hosts (flooding)" in line(Flooded("", 7))
    assert to_json(Flooded("", 7), 0.0)["from"] is None
    assert to_json(Flooded("10.0.0.66", 7), 0.0) == {
        "type": "flood",
        "time": to_json(Flooded("", 7), 0.0)["time"],
        "from": "10.0.0.66",
        "dropped": 7,
    }
