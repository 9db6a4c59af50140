"""The layers' arrows point down: ui renders records and imports nothing of aio (no sockets,
tasks or threads of its own); events.py holds records only and imports no shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pigeon

SRC = Path(pigeon.__file__).parent


def pigeon_imports(path: Path) -> set[str]:
    """The pigeon modules a source file imports (``import pigeon.x`` and ``from pigeon.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pigeon."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pigeon."):
            assert node.module is not None
            found.add(node.module)
    return found


def test_pigeon_imports_sees_both_forms(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import pigeon.aio.udp\nfrom pigeon.events import Notice\nimport json\n")
    assert pigeon_imports(source) == {"pigeon.aio.udp", "pigeon.events"}


@pytest.mark.parametrize("path", sorted((SRC / "ui").glob("*.py")), ids=lambda p: p.name)
def test_ui_imports_nothing_of_aio(path: Path) -> None:
    assert not {m for m in pigeon_imports(path) if m.startswith("pigeon.aio")}


def test_events_import_only_records() -> None:
    allowed = ("pigeon.proto.chat",)
    imports = pigeon_imports(SRC / "events.py")
    assert imports and all(m.startswith(allowed) for m in imports), imports
