"""Fixtures naming the third-party peers; missing ones fail in CI and skip elsewhere."""

from __future__ import annotations

import pytest

from tests.helpers import require_tool


@pytest.fixture
def nc() -> str:
    return require_tool("nc")


@pytest.fixture
def socat() -> str:
    return require_tool("socat")
