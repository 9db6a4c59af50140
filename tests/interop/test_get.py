"""pigeon get against pigeon serve, nginx, python -m http.server and deliberately bad servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pigeon
from tests.faults import cutting_proxy, endless_headers, scripted_http, tcp_server
from tests.helpers import (
    background,
    free_port,
    one_line_error,
    require_root,
    wait_bound,
)
from tests.interop.serve_fixtures import Served, nginx_serving, sha256

pytestmark = pytest.mark.interop


def get(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pigeon", "get", *args],
        capture_output=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def no_leftovers(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert not (folder / f"{name}.part").exists()


def test_get_from_pigeon_serve_is_verified(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "dl"
    out.mkdir()
    result = get(
        f"127.0.0.1:{served.port}", "mib.bin", "name with spaces 中文.txt", "-o", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    docs = [e for e in events if e["type"] == "result"]
    assert [d["verified"] for d in docs] == [True, True]
    assert sha256(out / "mib.bin") == sha256(served.root / "mib.bin") == docs[0]["sha256"]
    assert (out / "name with spaces 中文.txt").read_bytes() == "空格和中文\n".encode()
    assert (out / "mib.bin").stat().st_mtime == int((served.root / "mib.bin").stat().st_mtime)


def test_get_empty_file_and_stdout(served: Served, tmp_path: Path) -> None:
    assert get(f"127.0.0.1:{served.port}", "empty.bin", cwd=tmp_path).returncode == 0
    assert (tmp_path / "empty.bin").read_bytes() == b""
    piped = get(f"http://127.0.0.1:{served.port}/small.txt", "-o", "-")
    assert piped.returncode == 0 and piped.stdout == b"hello pigeon\n"


def test_library_api(served: Served, tmp_path: Path) -> None:
    seen: list[int] = []
    result = pigeon.download(
        f"http://127.0.0.1:{served.port}/mib.bin",
        tmp_path,
        progress=lambda done, _total: seen.append(done),
    )
    assert result.path == tmp_path / "mib.bin" and result.bytes == 1 << 20
    assert result.verified and result.resumed_from == 0 and seen[-1] == 1 << 20


def test_http_error_and_existing_file(served: Served, tmp_path: Path) -> None:
    missing = get(f"127.0.0.1:{served.port}", "nope.txt", cwd=tmp_path)
    assert missing.returncode == 16
    assert one_line_error(missing).endswith("the server answered 404")
    no_leftovers(tmp_path, "nope.txt")
    (tmp_path / "small.txt").write_bytes(b"mine")
    clash = get(f"127.0.0.1:{served.port}", "small.txt", cwd=tmp_path)
    assert clash.returncode == 17 and (tmp_path / "small.txt").read_bytes() == b"mine"
    forced = get(f"127.0.0.1:{served.port}", "small.txt", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and (tmp_path / "small.txt").read_bytes() == b"hello pigeon\n"
    before = (tmp_path / "small.txt").stat().st_mtime_ns
    again = get(f"127.0.0.1:{served.port}", "small.txt", cwd=tmp_path)  # identical: fine
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(b"already here and identical") == 1  # one line says it
    assert (
        b"small.txt: 13 bytes, already here and identical (kept; sha256 verified)" in again.stderr
    )
    assert (tmp_path / "small.txt").stat().st_mtime_ns == before  # not rewritten


def test_hostile_server_name_stays_in_destination(tmp_path: Path) -> None:
    body = b"x"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + body
    with tcp_server(scripted_http(response)) as port:
        result = get(f"http://127.0.0.1:{port}/..%2f..%2fetc%2fevil", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil"]


def test_cut_every_256k_completes_through_retries(served: Served, tmp_path: Path) -> None:
    with tcp_server(cutting_proxy(served.port, cut_every=256 * 1024)) as port:
        result = get(f"127.0.0.1:{port}", "mib.bin", "--retries", "10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sha256(tmp_path / "mib.bin") == sha256(served.root / "mib.bin")
    assert b"resuming mib.bin from byte" in result.stderr
    assert not (tmp_path / "mib.bin.part").exists()


def test_flipped_byte_fails_the_digest_and_leaves_nothing(served: Served, tmp_path: Path) -> None:
    with tcp_server(cutting_proxy(served.port, flip_at=5000)) as port:
        result = get(f"127.0.0.1:{port}", "mib.bin", cwd=tmp_path)
    assert result.returncode == 15
    assert "SHA-256 mismatch" in one_line_error(result)
    no_leftovers(tmp_path, "mib.bin")


def test_a_stalling_link_times_out_keeps_the_part_and_a_rerun_finishes(
    served: Served, tmp_path: Path
) -> None:
    """The proxy stops forwarding at 300,000 bytes but keeps the connection open."""
    port = free_port()
    with tcp_server(cutting_proxy(served.port, stall_at=300_000), port=port):
        stalled = get(
            f"127.0.0.1:{port}", "mib.bin", "--retries", "1", "--timeout", "1", cwd=tmp_path
        )
    assert stalled.returncode == 11
    err = stalled.stderr.decode()
    assert "retrying in 0.5s (1/1)" in err and "resuming mib.bin from byte" in err
    assert (
        err.splitlines()[-1].endswith("the server sent nothing for 1s") and "Traceback" not in err
    )
    assert not (tmp_path / "mib.bin").exists()
    kept = (tmp_path / "mib.bin.part").stat().st_size
    assert 0 < kept < (served.root / "mib.bin").stat().st_size  # what came is kept
    with tcp_server(cutting_proxy(served.port), port=port):
        rerun = get(f"127.0.0.1:{port}", "mib.bin", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert sha256(tmp_path / "mib.bin") == sha256(served.root / "mib.bin")


def test_rerun_resumes_an_interrupted_download(served: Served, tmp_path: Path) -> None:
    """Run 1 is cut off (no retries); run 2, same address, continues from the .part."""
    port = free_port()
    with tcp_server(cutting_proxy(served.port, cut_every=400_000), port=port):
        first = get(f"127.0.0.1:{port}", "mib.bin", "--retries", "0", cwd=tmp_path)
    assert first.returncode == 14  # connection lost, .part and sidecar kept
    assert (tmp_path / "mib.bin.part").stat().st_size > 0
    assert not (tmp_path / "mib.bin").exists()
    with tcp_server(cutting_proxy(served.port), port=port):
        second = get(f"127.0.0.1:{port}", "mib.bin", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    *notices, doc = [json.loads(line) for line in second.stdout.splitlines()]
    assert doc["type"] == "result" and doc["resumed_from"] > 0 and doc["verified"] is True
    assert any(str(n["text"]).startswith("resuming mib.bin from byte") for n in notices)
    assert sha256(tmp_path / "mib.bin") == sha256(served.root / "mib.bin")


@pytest.mark.parametrize(
    ("name", "handler", "code", "message"),
    [
        (
            "short",
            scripted_http(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 7"),
            14,
            "connection lost",
        ),
        (
            "long",
            scripted_http(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ntoo long body"),
            15,
            "the server sent more than the 2 bytes it announced (nothing kept)",
        ),
        (
            "stall",
            scripted_http(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", then_stall=5),
            11,
            "sent nothing for 1s",
        ),
        ("headers", endless_headers(), 13, "bad answer from the server"),
    ],
)
def test_bad_servers(tmp_path: Path, name: str, handler: object, code: int, message: str) -> None:
    with tcp_server(handler) as port:  # type: ignore[arg-type]
        result = get(
            f"http://127.0.0.1:{port}/f.bin", "--retries", "0", "--timeout", "1", cwd=tmp_path
        )
    assert result.returncode == code, result.stderr
    assert message in one_line_error(result)
    assert not (tmp_path / "f.bin").exists()


@pytest.fixture
def nginx_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    www = tmp_path / "www"
    www.mkdir()
    (www / "file.bin").write_bytes(os.urandom(3 << 20))
    with nginx_serving(www, tmp_path) as port:
        yield port, www


def test_get_from_nginx_and_resume_there(nginx_server: tuple[int, Path], tmp_path: Path) -> None:
    port, www = nginx_server
    with tcp_server(cutting_proxy(port, cut_every=1 << 20)) as proxy:
        result = get(f"http://127.0.0.1:{proxy}/file.bin", "--retries", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sha256(tmp_path / "file.bin") == sha256(www / "file.bin")


def test_get_from_python_http_server(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "file.bin").write_bytes(os.urandom(2 << 20))
    port = free_port()
    with background(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(www),
        ]
    ):
        wait_bound(port, socket.SOCK_STREAM)
        result = get(f"http://127.0.0.1:{port}/file.bin", "-o", str(tmp_path / "got.bin"))
    assert result.returncode == 0, result.stderr
    assert sha256(tmp_path / "got.bin") == sha256(www / "file.bin")
    assert b"not verified: no digest offered" in result.stderr


def test_no_arguments_on_a_terminal_asks_like_the_tutorial(served: Served, tmp_path: Path) -> None:
    import pty

    main_fd, sub_fd = pty.openpty()
    os.write(main_fd, f"127.0.0.1\n{served.port}\nsmall.txt\n".encode())
    proc = subprocess.run(
        [sys.executable, "-m", "pigeon", "get"],
        stdin=sub_fd,
        capture_output=True,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    os.close(sub_fd)
    os.close(main_fd)
    assert proc.returncode == 0, proc.stderr
    assert b"server address: server port [7890]: file name: " in proc.stdout
    assert (tmp_path / "small.txt").read_bytes() == b"hello pigeon\n"


def test_no_arguments_without_a_terminal_is_a_usage_error() -> None:
    result = get()
    assert result.returncode == 2
    assert "SOURCE is missing" in one_line_error(result)


def test_json_progress_events_end_at_the_total(served: Served, tmp_path: Path) -> None:
    result = get(f"127.0.0.1:{served.port}", "mib.bin", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [e for e in events if e["type"] == "progress"]
    assert progress and progress[-1] == {
        "type": "progress",
        "name": "mib.bin",
        "bytes": 1 << 20,
        "total": 1 << 20,
    }
    assert events[-1]["type"] == "result"
    assert result.stderr == b""  # --json: nothing for humans on stderr


def test_output_to_a_device_or_fifo_streams_and_never_replaces_it(
    served: Served, tmp_path: Path
) -> None:
    import stat
    import threading

    require_root()
    # A null device of the test's own (never the machine's /dev/null, in case this regresses).
    devnull = tmp_path / "null"
    os.mknod(devnull, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    result = get(f"127.0.0.1:{served.port}", "mib.bin", "-o", str(devnull), "--json")
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(devnull.stat().st_mode)  # still the device, not a downloaded file
    assert not Path(f"{devnull}.part").exists()
    assert json.loads(result.stdout.splitlines()[-1])["verified"] is True

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(fifo.read_bytes()), daemon=True)
    reader.start()
    piped = get(f"127.0.0.1:{served.port}", "small.txt", "-o", str(fifo))
    reader.join(10)
    assert piped.returncode == 0, piped.stderr
    assert bytes(received) == b"hello pigeon\n" and stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.parametrize(
    ("case", "resumed_from", "notice"),
    [
        ("complete", (1 << 20) - 1, "resuming mib.bin from byte 1048575"),
        ("longer", 0, None),
        ("longer, size unknown", 0, "the partial download cannot be resumed; starting over"),
    ],
)
def test_rerun_over_a_part_that_cannot_simply_continue(
    served: Served, tmp_path: Path, case: str, resumed_from: int, notice: str | None
) -> None:
    """A .part as long as the file (stopped between the last write and the rename) or longer
    than it (not the file's beginning): the rerun still ends with the verified file."""
    port = free_port()
    with tcp_server(cutting_proxy(served.port, cut_every=400_000), port=port):
        assert get(f"127.0.0.1:{port}", "mib.bin", "--retries", "0", cwd=tmp_path).returncode == 14
    part, sidecar = tmp_path / "mib.bin.part", tmp_path / "mib.bin.part.json"
    whole = (served.root / "mib.bin").read_bytes()
    part.write_bytes(whole if case == "complete" else whole + b"junk")
    if case.endswith("size unknown"):
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "size": None}))
    with tcp_server(cutting_proxy(served.port), port=port):  # the same URL, nothing cut
        rerun = get(f"127.0.0.1:{port}", "mib.bin", "--json", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    *notices, doc = [json.loads(line) for line in rerun.stdout.splitlines()]
    assert doc["resumed_from"] == resumed_from and doc["verified"] is True
    texts = [str(n.get("text", "")) for n in notices]
    assert notice is None or any(notice in t for t in texts), texts
    assert sha256(tmp_path / "mib.bin") == sha256(served.root / "mib.bin")
    assert not part.exists() and not sidecar.exists()
