"""Shared fixtures: third-party peers (missing ones fail in CI, skip elsewhere), served folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_tool
from tests.interop.serve_fixtures import Served, make_tree, serve


@pytest.fixture(autouse=True, scope="session")
def _digest_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """pigeon serve processes started by tests keep their digests in a temporary folder."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def nc() -> str:
    return require_tool("nc")


@pytest.fixture
def socat() -> str:
    return require_tool("socat")


@pytest.fixture
def curl() -> str:
    return require_tool("curl")


@pytest.fixture
def wget() -> str:
    return require_tool("wget")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root, outside = make_tree(tmp_path)
    yield from serve(root, outside)


@pytest.fixture
def served_fallback(tmp_path: Path) -> Iterator[Served]:
    root, outside = make_tree(tmp_path)
    yield from serve(root, outside, "--no-sendfile")
