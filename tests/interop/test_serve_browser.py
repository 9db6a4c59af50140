"""A real browser (headless Chromium) reads pigeon serve's listing and downloads through it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import require_tool
from tests.interop.serve_fixtures import Served

pytestmark = [pytest.mark.interop, pytest.mark.slow]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def dump_dom(url: str, profile: Path) -> str:
    chromium = require_tool("chromium")
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.decode()


def test_browser_sees_listing_and_follows_links(served: Served, tmp_path: Path) -> None:
    dom = dump_dom(f"{served.url}/", tmp_path / "profile")
    assert "<title>pigeon: /</title>" in dom
    assert "name with spaces 中文.txt" in dom  # UTF-8 decoded by the browser, not mojibake
    nested = dump_dom(f"{served.url}/sub/%E6%B7%B1/nested.txt", tmp_path / "profile")
    assert "nested" in nested
    chinese = dump_dom(
        f"{served.url}/name%20with%20spaces%20%E4%B8%AD%E6%96%87.txt", tmp_path / "profile"
    )
    assert "空格和中文" in chinese
