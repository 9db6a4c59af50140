"""pigeon get --legacy against a peer doing exactly the tutorial's file-server calls."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests import tutorial_peers as tutorial
from tests.helpers import free_port, one_line_error
from tests.interop.serve_fixtures import Served


def legacy_get(port: int, name: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pigeon", "get", f"127.0.0.1:{port}", name, "--legacy", *extra],
        capture_output=True,
        timeout=30,
        cwd=cwd,
        check=False,
    )


def serve_once(folder: Path) -> tuple[int, threading.Thread, list[str]]:
    port = free_port()
    server = tutorial.tcp_server_socket(port)
    asked: list[str] = []

    def one_client() -> None:
        try:
            asked.append(tutorial.file_server_serve_one(server, str(folder)))
        finally:
            server.close()  # the tutorial's server loops forever; a test serves one client

    thread = threading.Thread(target=one_client, daemon=True)
    thread.start()
    return port, thread, asked


def test_legacy_download_from_the_tutorial_server(tmp_path: Path) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "中文.txt").write_bytes("下载器\n".encode() * 100)
    out = tmp_path / "out"
    out.mkdir()
    port, thread, asked = serve_once(folder)
    result = legacy_get(port, "中文.txt", out)
    thread.join(5)
    assert result.returncode == 0, result.stderr
    assert asked == ["中文.txt"]
    assert (out / "中文.txt").read_bytes() == (folder / "中文.txt").read_bytes()
    assert b"cannot be verified" in result.stderr
    assert not (out / "中文.txt.part").exists()


def test_legacy_missing_or_empty_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    for name in ("missing.txt", "empty.txt"):
        port, thread, _asked = serve_once(folder)
        result = legacy_get(port, name, tmp_path)
        thread.join(5)
        assert result.returncode == 16
        assert "missing or empty" in one_line_error(result)
        assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()


def test_legacy_against_pigeon_serve(served: Served, tmp_path: Path) -> None:
    result = legacy_get(served.port, "mib.bin", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mib.bin").read_bytes() == (served.root / "mib.bin").read_bytes()


def test_legacy_to_stdout(tmp_path: Path) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"abc")
    port, thread, _asked = serve_once(folder)
    result = legacy_get(port, "a.txt", tmp_path, "-o", "-")
    thread.join(5)
    assert result.returncode == 0 and result.stdout == b"abc"
