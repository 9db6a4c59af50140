"""Crash safety of pigeon get: kill -9 the server or the client mid-transfer, then finish."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import cutting_proxy, tcp_server
from tests.helpers import (
    AS_AT_A_TERMINAL,
    PIGEON,
    free_port,
    one_line_error,
    require_root,
    wait_bound,
)
from tests.interop.serve_fixtures import make_tree, nginx_serving, sha256

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*PIGEON, "serve", str(root), "--port", str(port), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_bound(port, socket.SOCK_STREAM)
    return proc


def wait_for_part(part: Path, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if part.exists() and part.stat().st_size >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"{part} did not grow to {at_least} bytes")


def test_server_killed_mid_download_then_restarted(tmp_path: Path) -> None:
    root, _ = make_tree(tmp_path)
    # Big enough that socket buffers (several MiB on loopback) cannot hold the rest when the
    # server dies; the client hands received bytes to disk at least every 0.25 s.
    (root / "big.bin").write_bytes(os.urandom(32 << 20))
    server_port, proxy_port = free_port(), free_port()
    server = start_server(root, server_port)
    try:
        with tcp_server(cutting_proxy(server_port, drip=0.002), port=proxy_port):
            client = subprocess.Popen(
                [*PIGEON, "get", f"127.0.0.1:{proxy_port}", "big.bin", "--retries", "30", "--json"],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            wait_for_part(tmp_path / "big.bin.part", 8 << 20)
            server.send_signal(signal.SIGKILL)
            server.wait()
            time.sleep(0.5)
            server = start_server(root, server_port)
            out, err = client.communicate(timeout=90)
        assert client.returncode == 0, err
        *notices, result = [json.loads(line) for line in out.splitlines()]
        assert result["resumed_from"] > 0 and result["verified"] is True, out
        assert any(str(n.get("text", "")).startswith("resuming big.bin from byte") for n in notices)
        assert sha256(tmp_path / "big.bin") == sha256(root / "big.bin")
    finally:
        server.kill()
        server.wait()


def test_client_killed_then_rerun_resumes(tmp_path: Path) -> None:
    root, _ = make_tree(tmp_path)
    (root / "big.bin").write_bytes(os.urandom(8 << 20))
    server_port, proxy_port = free_port(), free_port()
    server = start_server(root, server_port)
    try:
        with tcp_server(cutting_proxy(server_port, drip=0.005), port=proxy_port):
            client = subprocess.Popen(
                [*PIGEON, "get", f"127.0.0.1:{proxy_port}", "big.bin"],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_part(tmp_path / "big.bin.part", 1 << 20)
            client.send_signal(signal.SIGKILL)
            client.wait()
        assert not (tmp_path / "big.bin").exists()  # never a wrong file under the final name
        kept = (tmp_path / "big.bin.part").stat().st_size
        with tcp_server(cutting_proxy(server_port), port=proxy_port):
            rerun = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pigeon",
                    "get",
                    f"127.0.0.1:{proxy_port}",
                    "big.bin",
                    "--json",
                ],
                cwd=tmp_path,
                capture_output=True,
                timeout=60,
                check=False,
            )
        assert rerun.returncode == 0, rerun.stderr
        result = json.loads(rerun.stdout.splitlines()[-1])
        assert 0 < result["resumed_from"] <= kept and result["verified"] is True
        assert sha256(tmp_path / "big.bin") == sha256(root / "big.bin")
    finally:
        server.kill()
        server.wait()


def test_disk_full_is_a_clear_error_and_touches_nothing_else(tmp_path: Path) -> None:
    require_root()
    root, _ = make_tree(tmp_path)
    (root / "big.bin").write_bytes(os.urandom(4 << 20))
    small = tmp_path / "small-disk"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        mine = small / "mine.txt"
        mine.write_bytes(b"the user's own file")
        port = free_port()
        server = start_server(root, port)
        try:
            result = subprocess.run(
                [*PIGEON, "get", f"127.0.0.1:{port}", "big.bin", "--retries", "0"],
                cwd=small,
                capture_output=True,
                timeout=60,
                check=False,
            )
        finally:
            server.kill()
            server.wait()
        assert result.returncode == 18
        line = one_line_error(result)
        assert "the disk is full" in line and "big.bin.part" in line
        kept = (small / "big.bin.part").stat().st_size
        assert kept > 0 and f"after {kept:,} bytes" in line  # the true count
        assert "rerun to resume" in line
        assert mine.read_bytes() == b"the user's own file"
        assert not (small / "big.bin").exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)


# pigeon run as from a terminal: a suite started in the background (make test &, some CI)
# runs with SIGINT ignored, which a child inherits and Python then keeps; a launcher resets
# it and execs (preexec_fn is unsafe here: the proxy runs in a thread)
def ctrl_c_once_files_land(argv: list[str], dest: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (a mirror into ``dest/tree``) and send it SIGINT once a first batch of
    files has its final names; what it said and how it ended."""
    client = subprocess.Popen(argv, cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not any((dest / "tree").rglob("*.txt")) and time.monotonic() < deadline:
        time.sleep(0.02)  # until a first batch has its final names
    client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, client.returncode, out, err)


def small_tree(share: Path, files: int, folders: int) -> dict[str, bytes]:
    """``files`` random small files under ``share/tree`` in ``folders`` folders, by name."""
    sources: dict[str, bytes] = {}
    for n in range(files):
        name = f"tree/d{n % folders}/f{n:04d}.txt"
        sources[name] = os.urandom(100 + n)
        (share / name).parent.mkdir(parents=True, exist_ok=True)
        (share / name).write_bytes(sources[name])
    return sources


def test_ctrl_c_mid_mirror_says_what_was_kept_and_the_same_command_finishes(
    tmp_path: Path,
) -> None:
    """Ctrl-C in the middle of ``get -r`` (through a slow link, so it is mid-way): one line,
    exit 130, naming as many kept files as there are under final names, every one of them
    the server's; the same command then fetches the rest."""
    share = tmp_path / "share"
    sources = small_tree(share, 1500, 10)
    dest = tmp_path / "dest"
    dest.mkdir()
    server_port, proxy_port = free_port(), free_port()
    server = start_server(share, server_port)
    argv = [*AS_AT_A_TERMINAL, "get", f"127.0.0.1:{proxy_port}", "tree", "-r", "-q"]
    try:
        with tcp_server(cutting_proxy(server_port, drip=0.01), port=proxy_port):
            done = ctrl_c_once_files_land(argv, dest)
            err = done.stderr
            assert done.returncode == 130, err
            line = one_line_error(done)
            found = re.fullmatch(
                r"pigeon: interrupted: ([\d,]+) files? kept in (\S+), all sha256-verified; "
                r"the same command fetches the rest",
                line,
            )
            assert found is not None, line
            kept = sorted(p for p in (dest / "tree").rglob("*.txt") if p.is_file())
            assert int(found[1].replace(",", "")) == len(kept)
            assert 0 < len(kept) < len(sources), "the mirror was not stopped mid-way"
            assert found[2] == "tree"
            for path in kept:
                assert path.read_bytes() == sources[str(path.relative_to(dest))]
        again = subprocess.run(
            [*PIGEON, "get", f"127.0.0.1:{server_port}", "tree", "-r", "-q"],
            cwd=dest,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        got = {
            str(p.relative_to(dest)): p.read_bytes()
            for p in (dest / "tree").rglob("*")
            if p.is_file()
        }
        assert got == sources  # every file, and no .part or sidecar left over
    finally:
        server.terminate()
        server.wait()


def test_ctrl_c_mid_mirror_of_an_html_listing_never_calls_its_files_verified(
    tmp_path: Path,
) -> None:
    """nginx's autoindex offers no digest: Ctrl-C mid-mirror counts the kept files, each the
    server's, and says that none of them was checked by SHA-256."""
    share = tmp_path / "share"
    sources = small_tree(share, 600, 4)
    dest = tmp_path / "dest"
    dest.mkdir()
    proxy_port = free_port()
    with nginx_serving(share, tmp_path, extra="autoindex on;") as port:
        argv = [*AS_AT_A_TERMINAL, "get", f"http://127.0.0.1:{proxy_port}/tree/", "-r", "-q"]
        with tcp_server(cutting_proxy(port, drip=0.01), port=proxy_port):
            done = ctrl_c_once_files_land(argv, dest)
    err = done.stderr
    assert done.returncode == 130, err
    found = re.fullmatch(
        r"pigeon: interrupted: ([\d,]+) files? kept in tree, none sha256-verified "
        r"\(the server offered no digests\); the same command fetches the rest",
        one_line_error(done),
    )
    assert found is not None, err
    kept = [p for p in (dest / "tree").rglob("*.txt") if p.is_file()]
    assert 0 < len(kept) < len(sources) and int(found[1].replace(",", "")) == len(kept)
    for path in kept:
        assert path.read_bytes() == sources[str(path.relative_to(dest))]


def test_ctrl_c_mid_download_says_what_was_kept_and_the_same_command_continues(
    tmp_path: Path,
) -> None:
    """Ctrl-C during one download (a slow link): one line naming the kept ``.part`` and
    saying the same command continues it; the same command then does, and verifies."""
    root = tmp_path / "share"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(8 << 20))
    dest = tmp_path / "dest"
    dest.mkdir()
    server_port, proxy_port = free_port(), free_port()
    server = start_server(root, server_port)
    argv = ["get", f"127.0.0.1:{proxy_port}", "big.bin", "-q"]
    try:
        with tcp_server(cutting_proxy(server_port, drip=0.005), port=proxy_port):
            client = subprocess.Popen(
                [*AS_AT_A_TERMINAL, *argv],
                cwd=dest,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            wait_for_part(dest / "big.bin.part", 1 << 20)
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=60)
        done = subprocess.CompletedProcess(argv, client.returncode, out, err)
        assert done.returncode == 130, err
        part = dest / "big.bin.part"
        found = re.fullmatch(
            r"pigeon: interrupted: (\S+) kept \((.+)\); the same command continues from "
            r"there if the server can \(same file, byte ranges\)",
            one_line_error(done),
        )
        assert found is not None, err
        assert found[1] == str(part) and part.stat().st_size >= 1 << 20
        assert (dest / "big.bin.part.json").exists() and not (dest / "big.bin").exists()
        with tcp_server(cutting_proxy(server_port), port=proxy_port):  # same URL, full speed
            again = subprocess.run(
                [*PIGEON, *argv[:-1], "--json"],
                cwd=dest,
                capture_output=True,
                timeout=60,
                check=False,
            )
        assert again.returncode == 0, again.stderr
        result = json.loads(again.stdout.splitlines()[-1])
        assert result["resumed_from"] > 0 and result["verified"] is True
        assert sha256(dest / "big.bin") == sha256(root / "big.bin")
        assert not part.exists() and not (dest / "big.bin.part.json").exists()
    finally:
        server.kill()
        server.wait()


def test_ctrl_c_while_waiting_for_another_download_claims_nothing(tmp_path: Path) -> None:
    """A second ``pigeon get --wait-lock`` of the same file, stopped while it waits: the
    ``.part`` is the first one's, so the line names nothing as kept."""
    root = tmp_path / "share"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(8 << 20))
    server_port, proxy_port = free_port(), free_port()
    server = start_server(root, server_port)
    try:
        with tcp_server(cutting_proxy(server_port, drip=0.005), port=proxy_port):
            argv = ["get", f"127.0.0.1:{proxy_port}", "big.bin", "-q"]
            first = subprocess.Popen([*PIGEON, *argv], cwd=tmp_path, stderr=subprocess.DEVNULL)
            wait_for_part(tmp_path / "big.bin.part", 1 << 20)
            waiting = subprocess.Popen(
                [*AS_AT_A_TERMINAL, *argv[:-1], "--wait-lock"],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert waiting.stderr is not None
            told = waiting.stderr.readline()  # once it says so, it waits for the first's lock
            assert b"is being downloaded by pid" in told and b"waiting" in told, told
            waiting.send_signal(signal.SIGINT)
            out, err = waiting.communicate(timeout=30)
            first.kill()
            first.wait()
        done = subprocess.CompletedProcess(argv, waiting.returncode, out, err)
        assert done.returncode == 130, err
        assert err.decode().strip() == "pigeon: interrupted", err
    finally:
        server.kill()
        server.wait()
