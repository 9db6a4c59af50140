"""proto/ is sans-I/O: no module under it may import socket, asyncio, os, threading or time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pigeon.proto

FORBIDDEN = {"socket", "asyncio", "os", "threading", "time", "selectors", "subprocess", "select"}
PROTO_DIR = Path(pigeon.proto.__file__).parent


def imported_roots(source: str) -> set[str]:
    """Top-level module names a source file imports (``import a.b`` and ``from a import b``)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_imported_roots_sees_every_import_form() -> None:
    source = "import os.path\nfrom time import monotonic\nimport json as j\nfrom . import x\n"
    assert imported_roots(source) == {"os", "time", "json"}


def test_there_are_proto_modules_to_check() -> None:
    assert len(list(PROTO_DIR.rglob("*.py"))) >= 5


@pytest.mark.parametrize(
    "path", sorted(PROTO_DIR.rglob("*.py")), ids=lambda p: p.relative_to(PROTO_DIR).as_posix()
)
def test_proto_module_is_pure(path: Path) -> None:
    bad = imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path.name} imports {sorted(bad)}: proto/ must stay sans-I/O"
