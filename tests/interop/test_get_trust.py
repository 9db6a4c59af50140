"""pigeon get's promises at the edges: one writer per destination, destinations as curl/wget
users expect, batches that go on after a failure, folders, trailers, stops and write faults."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.faults import Handler, cutting_proxy, scripted_http, tcp_server
from tests.helpers import PIGEON, background, free_port, one_line_error, require_root, wait_bound
from tests.interop.serve_fixtures import Served, nginx_serving, sha256

pytestmark = pytest.mark.interop


def get(
    *args: str,
    cwd: Path | None = None,
    stdout: int | IO[bytes] = subprocess.PIPE,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*PIGEON, "get", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The closing error line (after any retry notices); never a traceback."""
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    return err.splitlines()[-1]


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """An empty folder to run in (``tmp_path`` also holds the served tree)."""
    folder = tmp_path / "here"
    folder.mkdir()
    return folder


def counting(handler: Handler, seen: list[int]) -> Handler:
    async def handle(reader: object, writer: object) -> None:
        seen.append(1)
        await handler(reader, writer)  # type: ignore[arg-type]

    return handle


# ----- one download per destination -------------------------------------------------------


def test_a_second_download_of_the_same_destination_is_refused_then_waits(
    served: Served, tmp_path: Path
) -> None:
    big = served.root / "big.bin"
    big.write_bytes(os.urandom(12 << 20))
    with tcp_server(cutting_proxy(served.port, drip=0.01)) as slow:
        first = subprocess.Popen(
            [*PIGEON, "get", f"127.0.0.1:{slow}", "big.bin", "--json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            part = tmp_path / "big.bin.part"
            while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            second = get(f"127.0.0.1:{served.port}", "big.bin", cwd=tmp_path)
            assert second.returncode == 19, second.stderr
            line = one_line_error(second)
            assert f"already being downloaded (pid {first.pid})" in line, line
            assert "--wait-lock" in line
            waiting = get(f"127.0.0.1:{served.port}", "big.bin", "--wait-lock", cwd=tmp_path)
            out, err = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    assert first.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["verified"] is True
    assert waiting.returncode == 0, waiting.stderr
    assert b"being downloaded by pid" in waiting.stderr
    assert b"already here and identical" in waiting.stderr
    # never larger than, or different from, what was verified
    assert (tmp_path / "big.bin").stat().st_size == big.stat().st_size
    assert sha256(tmp_path / "big.bin") == sha256(big)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("big")) == ["big.bin"]


# ----- destinations ---------------------------------------------------------------------------


def test_output_ending_in_a_slash_is_a_folder_created_if_missing(
    served: Served, tmp_path: Path
) -> None:
    result = get(f"127.0.0.1:{served.port}", "small.txt", "-o", "new/deeper/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "small.txt").read_bytes() == b"hello pigeon\n"
    (tmp_path / "there").mkdir()
    again = get(f"127.0.0.1:{served.port}", "one.bin", "-o", "there", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "there" / "one.bin").read_bytes() == b"\x7f"


def test_several_files_into_a_non_folder_is_refused_before_any_request(tmp_path: Path) -> None:
    seen: list[int] = []
    with tcp_server(counting(scripted_http(b"HTTP/1.1 404 Not Found\r\n\r\n"), seen)) as port:
        result = get(f"127.0.0.1:{port}", "a.txt", "b.txt", "-o", "file.out", cwd=tmp_path)
    assert result.returncode == 2
    assert "is not a folder" in one_line_error(result)
    assert seen == [] and list(tmp_path.iterdir()) == []


def test_a_missing_parent_folder_is_a_clear_error(served: Served, here: Path) -> None:
    result = get(f"127.0.0.1:{served.port}", "small.txt", "-o", "nope/x.txt", cwd=here)
    assert result.returncode == 2
    assert "does not exist" in one_line_error(result)
    assert list(here.iterdir()) == []


# ----- folders and batches ----------------------------------------------------------------


def test_a_folder_without_r_is_one_line_and_writes_nothing(served: Served, here: Path) -> None:
    for args in (["sub"], [], [f"http://127.0.0.1:{served.port}/sub/"]):
        source = [f"127.0.0.1:{served.port}", *args] if not args or "://" not in args[0] else args
        result = get(*source, cwd=here)
        assert result.returncode == 2, (args, result.stderr)
        assert "is a folder: use -r to mirror it" in one_line_error(result)
        assert list(here.iterdir()) == []


def test_a_batch_goes_on_after_a_failure_and_names_every_failure(
    served: Served, here: Path
) -> None:
    result = get(
        f"127.0.0.1:{served.port}", "missing.txt", "small.txt", "gone.bin", "one.bin", cwd=here
    )
    assert result.returncode == 16, result.stderr
    assert (here / "small.txt").read_bytes() == b"hello pigeon\n"
    assert (here / "one.bin").read_bytes() == b"\x7f"
    assert last_line(result) == "pigeon: 2 of 4 failed: missing.txt, gone.bin"
    assert result.stderr.count(b"answered 404") == 2  # each failure said when it happened
    assert sorted(p.name for p in here.iterdir()) == ["one.bin", "small.txt"]


NAMES = ['quote"s and #hash ?q.txt', "plain.txt", "空 格.bin", "100%.txt"]


def _odd_tree(root: Path) -> dict[str, bytes]:
    files = {name: os.urandom(100 + i) for i, name in enumerate(NAMES)}
    files["sub/inner?.txt"] = b"inner\n"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / ".bash_profile").write_bytes(b"evil\n")
    (root / ".ssh").mkdir()
    (root / ".ssh" / "authorized_keys").write_bytes(b"evil\n")
    return files


def _mirrored(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with background([*argv, "--directory", str(root)]):
        wait_bound(port, socket.SOCK_STREAM)
        yield port


@pytest.mark.parametrize("server", ["http.server", "nginx"])
def test_mirror_from_an_html_listing_keeps_legal_names_and_skips_dot_files(
    tmp_path: Path, server: str
) -> None:
    root = tmp_path / "www"
    root.mkdir()
    files = _odd_tree(root)
    out = tmp_path / "out"
    maker = (
        http_server(root)
        if server == "http.server"
        else nginx_serving(root, tmp_path, extra="autoindex on;")
    )
    with maker as port:
        result = get(f"http://127.0.0.1:{port}/", "-r", "-o", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert _mirrored(out) == files  # every legal name, nothing hidden
        assert not (tmp_path / ".ssh").exists() and not (out / ".ssh").exists()
        if server == "nginx":
            return  # nginx's autoindex never lists dot-files
        assert b"skipped 2 hidden entries" in result.stderr
        hidden = get(f"http://127.0.0.1:{port}/", "-r", "--hidden", "-o", "h/", cwd=tmp_path)
        assert hidden.returncode == 0, hidden.stderr
        assert (tmp_path / "h" / ".ssh" / "authorized_keys").read_bytes() == b"evil\n"


# ----- digests in trailers ------------------------------------------------------------------


def _chunked(body: bytes, digest: bytes) -> bytes:
    trailer = b"Repr-Digest: sha-256=:" + base64.b64encode(digest) + b":\r\n"
    half = len(body) // 2
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:]))
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Repr-Digest\r\n\r\n"
    return head + chunks + b"0\r\n" + trailer + b"\r\n"


def test_a_digest_in_a_trailer_is_verified(tmp_path: Path) -> None:
    body = os.urandom(3 << 20)
    good = _chunked(body, hashlib.sha256(body).digest())
    with tcp_server(scripted_http(good)) as port:
        ok = get(f"127.0.0.1:{port}", "t.bin", "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1])["verified"] is True
    assert (tmp_path / "t.bin").read_bytes() == body
    bad = _chunked(body, hashlib.sha256(body + b"x").digest())
    with tcp_server(scripted_http(bad)) as port:
        wrong = get(f"127.0.0.1:{port}", "u.bin", cwd=tmp_path)
    assert wrong.returncode == 15
    assert "SHA-256 mismatch" in one_line_error(wrong)
    assert not (tmp_path / "u.bin").exists() and not (tmp_path / "u.bin.part").exists()


# ----- stops and faults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        b"",  # closed before answering
        b"HTTP/1.1 200 OK\r\nContent-Le",  # closed mid-head
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",  # closed mid-body
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",  # mid-chunk
    ],
    ids=["before", "mid-head", "mid-body", "mid-chunk"],
)
def test_a_connection_closed_early_is_connection_lost(tmp_path: Path, response: bytes) -> None:
    with tcp_server(scripted_http(response)) as port:
        result = get(f"127.0.0.1:{port}", "f.bin", "--retries", "1", cwd=tmp_path)
    assert result.returncode == 14, result.stderr
    assert b"retrying in" in result.stderr  # retried like any cut
    line = last_line(result)
    assert line.startswith("pigeon: ") and "connection lost" in line, line
    assert b"state=" not in result.stderr and b"h11" not in result.stderr
    assert b"changed" not in result.stderr


def test_writing_to_a_full_stdout_or_device_is_exit_18_with_the_true_count(
    served: Served, tmp_path: Path
) -> None:
    with open("/dev/full", "wb") as full:  # noqa: PTH123
        piped = get(f"127.0.0.1:{served.port}", "mib.bin", "-o", "-", stdout=full)
    assert piped.returncode == 18, piped.stderr
    line = one_line_error(piped)
    assert "cannot write to stdout after 0 bytes: the disk is full" in line
    device = get(f"127.0.0.1:{served.port}", "mib.bin", "-o", "/dev/full")
    assert device.returncode == 18
    assert "cannot write /dev/full after 0 bytes" in one_line_error(device)


def test_a_read_only_destination_is_not_told_to_free_space(served: Served, tmp_path: Path) -> None:
    require_root()
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    try:
        result = get(f"127.0.0.1:{served.port}", "small.txt", "-o", str(ro) + "/")
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert result.returncode == 18
    line = one_line_error(result)
    assert "read-only" in line and "free space" not in line
    assert list(ro.iterdir()) == []


def test_a_server_that_ignores_range_restarts_with_a_clear_note(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "file.bin").write_bytes(os.urandom(3 << 20))
    with (
        http_server(www) as port,
        tcp_server(cutting_proxy(port, cut_every=1 << 20, cut_first=1)) as proxy,
    ):
        result = get(f"http://127.0.0.1:{proxy}/file.bin", "--retries", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"the server cannot resume (no Range support); starting over" in result.stderr
    assert b"the file changed" not in result.stderr
    assert sha256(tmp_path / "file.bin") == sha256(www / "file.bin")


def test_a_flipped_byte_in_a_trailer_verified_answer_fails(served: Served, here: Path) -> None:
    (served.root / "twelve.bin").write_bytes(os.urandom(12 << 20))  # > 4 MiB: hashed alongside
    head = subprocess.run(  # the trailer form: what the test must exercise
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-D",
            "-",
            "-H",
            "Want-Repr-Digest: sha-256=1",
            f"http://127.0.0.1:{served.port}/twelve.bin",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.lower()
    assert b"transfer-encoding: chunked" in head and b"trailer: repr-digest" in head
    with tcp_server(cutting_proxy(served.port, flip_at=7 << 20)) as port:
        result = get(f"127.0.0.1:{port}", "twelve.bin", "--retries", "0", cwd=here)
    assert result.returncode == 15, result.stderr
    assert "SHA-256 mismatch" in one_line_error(result)
    assert list(here.iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(600)  # 64 GiB hashed twice (server and client) on 2 cores: ~100 s
def test_64_gib_sparse_file_is_fetched_verified_to_dev_null(tmp_path: Path) -> None:
    """Never hashed before: the first byte goes out at once, the digest follows as a trailer,
    and pigeon get checks it over all 64 GiB."""
    from tests.interop.serve_fixtures import serve

    root, outside = tmp_path / "share", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    with (root / "huge.img").open("wb") as f:
        f.truncate(64 << 30)
    with contextlib.contextmanager(serve)(root, outside) as served:
        result = get(
            f"127.0.0.1:{served.port}", "huge.img", "-o", "/dev/null", "--json", "-q", timeout=540
        )
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["bytes"] == 64 << 30 and done["verified"] is True
    zeros = "57b295ba06757c81edca2d1e299133b2f059bea28e6cf9f438d7741611c36541"  # 64 GiB of 0
    assert done["sha256"] == zeros


def test_a_mirror_never_lets_one_name_take_anothers_part_file(served: Served, here: Path) -> None:
    folder = served.root / "clash"
    folder.mkdir()
    (folder / "foo").write_bytes(os.urandom(6 << 20))
    (folder / "foo.part").write_bytes(b"x" * 100)
    (folder / "FOO").write_bytes(b"same name on a case-blind disk\n")
    result = get(f"127.0.0.1:{served.port}", "clash", "-r", "-o", "out/", "--force", cwd=here)
    assert result.returncode == 13, result.stderr  # what was left out is said
    got = {p.name: p.read_bytes() for p in (here / "out" / "clash").iterdir()}
    for name, data in got.items():  # whatever was mirrored is exactly the listed file
        assert data == (folder / name).read_bytes(), name
    assert len(got) == 1  # the first listed of three names for one file, or its .part
    assert result.stderr.count(b"refused the listed name") == 2


def test_a_failed_rename_in_a_mirror_is_that_files_failure_alone(
    served: Served, here: Path
) -> None:
    folder = served.root / "many"
    folder.mkdir()
    for n in range(40):
        (folder / f"f{n:02d}").write_bytes(b"%d\n" % n)
    (here / "out" / "many" / "f05").mkdir(parents=True)  # a folder where a file must go
    result = get(f"127.0.0.1:{served.port}", "many", "-r", "-o", "out/", "--force", cwd=here)
    assert result.returncode == 18, result.stderr
    assert last_line(result) == f"pigeon: 1 failed: http://127.0.0.1:{served.port}/many/f05"
    mirrored = sorted(p.name for p in (here / "out" / "many").iterdir() if p.is_file())
    assert mirrored == [f"f{n:02d}" for n in range(40) if n != 5]
    assert not list((here / "out").rglob("*.part"))


def test_a_busy_legacy_download_leaves_the_other_download_alone(served: Served, here: Path) -> None:
    from pigeon.fs.partfile import PartFile

    holder = PartFile(here / "small.txt")
    holder.open(resume=False)
    holder.append(b"someone else's bytes")
    try:
        result = get(f"127.0.0.1:{served.port}", "small.txt", "--legacy", cwd=here)
        assert result.returncode == 19, result.stderr
        assert (here / "small.txt.part").read_bytes() == b"someone else's bytes"
    finally:
        holder.discard()


def test_r_on_a_file_or_the_root_does_what_was_meant(served: Served, here: Path) -> None:
    on_file = get(f"127.0.0.1:{served.port}", "small.txt", "-r", cwd=here)
    assert on_file.returncode == 2
    assert "is not a folder" in last_line(on_file) and "drop -r" in last_line(on_file)
    root = get(f"127.0.0.1:{served.port}", "/", "-r", "-o", "m/", cwd=here)
    assert root.returncode == 0, root.stderr
    assert (here / "m" / "small.txt").read_bytes() == b"hello pigeon\n"  # not m/download/
    to_null = get(f"127.0.0.1:{served.port}", "small.txt", "-o", "/dev/null", cwd=here)
    assert to_null.returncode == 0
    assert to_null.stderr.decode().startswith("/dev/null: 13 bytes, sha256 verified")
