"""pigeon get -r: mirror a folder from pigeon serve; skip what is already identical; refuse
hostile names in a listing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.faults import scripted_http, tcp_server
from tests.helpers import background, json_lines
from tests.interop.serve_fixtures import Served, make_tree, serve, sha256

pytestmark = pytest.mark.interop


def get(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pigeon", "get", *args],
        cwd=cwd,
        capture_output=True,
        timeout=120,
        check=False,
    )


def files_under(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256(p) for p in folder.rglob("*") if p.is_file()}


def test_mirror_tree_then_skip_everything(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "mirror"
    first = get(f"127.0.0.1:{served.port}", "-r", "-o", str(out), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    got = files_under(out)
    want = {
        k: v
        for k, v in files_under(served.root).items()
        if not k.startswith(".") and k not in ("link-out", "chardev")
    }
    assert got == want  # nested folders, empty files, Chinese names; nothing hidden or outside
    assert not any(p.name.endswith(".part") for p in out.rglob("*"))
    src, dst = served.root / "sub" / "深" / "nested.txt", out / "sub" / "深" / "nested.txt"
    assert int(dst.stat().st_mtime) == int(src.stat().st_mtime)
    results = [json.loads(line) for line in first.stdout.splitlines()]
    assert all(r["verified"] for r in results if r["type"] == "result")
    closing = f"mirrored into {out}: {len(want)} files fetched, all sha256-verified"
    assert results[-1] == {"type": "notice", "text": closing}  # one line ends the mirror

    again = get(f"127.0.0.1:{served.port}", "-r", "-o", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count(b"up to date") == len(want)
    assert b"bytes, sha256 verified" not in again.stderr  # nothing was downloaded again
    last = again.stderr.decode().splitlines()[-1]
    assert last == f"mirrored into {out}: 0 files fetched; {len(want)} already here and identical"


@pytest.mark.parametrize("form", ["HOST sub", "HOST/sub", "URL/sub", "URL/sub/", "HOST -r sub"])
def test_mirror_one_subfolder(served: Served, tmp_path: Path, form: str) -> None:
    host = f"127.0.0.1:{served.port}"
    words = {
        "HOST sub": [host, "sub", "-r"],
        "HOST/sub": [f"{host}/sub", "-r"],
        "URL/sub": [f"http://{host}/sub", "-r"],
        "URL/sub/": [f"http://{host}/sub/", "-r"],
        "HOST -r sub": [host, "-r", "sub"],  # an option between SOURCE and PATH, as typed
    }[form]
    here = tmp_path / "here"
    here.mkdir()
    result = get(*words, cwd=here)
    assert result.returncode == 0, result.stderr
    # however the folder is named, it lands under its own name, never loose in the cwd
    assert (here / "sub" / "深" / "nested.txt").read_bytes() == b"nested\n"
    assert sorted(p.name for p in here.iterdir()) == ["sub"]


def test_hostile_listing_names_are_refused(tmp_path: Path) -> None:
    listing = json.dumps(
        {
            "path": "/",
            "entries": [
                {"name": "../evil", "type": "file", "size": 1, "mtime": 0},
                {"name": "/etc/x", "type": "file", "size": 1, "mtime": 0},
                {"name": "..", "type": "dir", "size": 0, "mtime": 0},
                {"name": "bad\x1bname", "type": "file", "size": 1, "mtime": 0},
                {"name": "ok.txt", "type": "file", "size": 3, "mtime": 0},
            ],
        }
    ).encode()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(listing), listing)
    out = tmp_path / "out"
    with tcp_server(scripted_http(response)) as port:
        result = get(f"127.0.0.1:{port}", "-r", "-o", str(out), "--retries", "0", cwd=tmp_path)
    assert result.returncode == 13, result.stderr  # a mirror that left anything out says so
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ok.txt", "out"]
    assert result.stderr.count(b"refused the listed name") == 4
    assert result.stderr.splitlines()[-1].startswith(b"pigeon: 4 failed: ")


def test_results_stream_as_files_land(tmp_path: Path) -> None:
    """Each file's result is written as it lands, not when the mirror ends: a script reading
    --json sees a.txt done while b.txt is still being answered."""
    release = threading.Event()
    bodies = {b"/a.txt": b"first file\n", b"/b.txt": b"second file\n"}
    listing = b'<html><body><a href="a.txt">a.txt</a> <a href="b.txt">b.txt</a></body></html>'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()  # the client closed its connection
                return
            path = head.split(b" ", 2)[1].partition(b"?")[0]
            if path == b"/b.txt":  # held until the test has seen a.txt's result
                await asyncio.to_thread(release.wait, 30)
            body = bodies.get(path, listing)
            kind = b"text/plain" if path in bodies else b"text/html"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (kind, len(body), body)
            )
            await writer.drain()

    out = tmp_path / "mirror"
    with tcp_server(handler) as port:
        # without PYTHONUNBUFFERED, as a user runs it: each result must be flushed itself
        argv = ["env", "-u", "PYTHONUNBUFFERED", sys.executable, "-m", "pigeon", "get"]
        argv += [f"127.0.0.1:{port}", "-r"]
        with background([*argv, "-o", str(out), "--json"]) as proc:
            try:
                proc.wait_for(b'"type": "result"', stream="out", timeout=20)
                assert b"b.txt" not in proc.out  # still held by the server
                (first,) = [r for r in json_lines(proc.out) if r.get("type") == "result"]
                assert Path(str(first["path"])).read_bytes() == bodies[b"/a.txt"]
            finally:
                release.set()
            assert proc.finish(30) == 0, proc.err
    results = [r for r in json_lines(proc.out) if r.get("type") == "result"]
    assert [Path(str(r["path"])).name for r in results] == ["a.txt", "b.txt"]
    urls = [f"http://127.0.0.1:{port}/{name}" for name in ("a.txt", "b.txt")]
    assert [r["url"] for r in results] == urls  # each file's own URL
    assert Path(str(results[1]["path"])).read_bytes() == bodies[b"/b.txt"]
    assert Path(str(results[1]["path"])).parent == out


def test_hidden_asked_of_a_server_that_lists_no_dot_files_says_so(
    served: Served, tmp_path: Path
) -> None:
    """``-r --hidden`` from a pigeon serve without --hidden: one line says why no dot-file
    came (the listing says the server leaves them out); without --hidden, nothing is said."""
    asked = get(f"127.0.0.1:{served.port}", "sub", "-r", "--hidden", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    line = (
        b"the server lists no dot-files or dot-folders, so none were mirrored "
        b"(pigeon serve lists them only with its --hidden)"
    )
    assert asked.stderr.count(line) == 1  # once for the mirror, not once per folder
    plain = get(f"127.0.0.1:{served.port}", "sub", "-r", "-o", "again/", cwd=tmp_path)
    assert plain.returncode == 0 and b"dot-files" not in plain.stderr


def test_dot_files_mirror_from_a_server_that_lists_them(tmp_path: Path) -> None:
    root, outside = make_tree(tmp_path)
    for served in serve(root, outside, "--hidden"):
        got = get(f"127.0.0.1:{served.port}", "-r", "--hidden", "-o", "m/", cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        assert (tmp_path / "m" / ".hidden").read_bytes() == b"dot file\n"
        assert b"dot-files" not in got.stderr


def test_a_closed_stdout_stops_the_mirror_with_every_fetched_file_committed(
    tmp_path: Path,
) -> None:
    """``pigeon get -r --json | head -c 100``: the reader goes, showing a result fails, the
    mirror stops; every file it verified still takes its final name (none left held as a
    ``.part``), and what is under a final name is the server's."""
    share = tmp_path / "share"
    sources = {}
    for n in range(3000):
        name = f"d{n % 10}/f{n:04d}.txt"
        sources[name] = os.urandom(200 + n % 500)
        (share / name).parent.mkdir(parents=True, exist_ok=True)
        (share / name).write_bytes(sources[name])
    for served in serve(share, tmp_path / "nowhere"):
        out = tmp_path / "m"
        argv = [sys.executable, "-m", "pigeon", "get", f"127.0.0.1:{served.port}", "-r"]
        proc = subprocess.Popen(
            [*argv, "-o", f"{out}/", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None
        proc.stdout.read(100)
        proc.stdout.close()  # the reader is gone
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 141, err  # as a shell's SIGPIPE: a script sees it unfinished
        finals = [p for p in out.rglob("*.txt") if p.is_file()]
        said = re.fullmatch(
            r"pigeon: stopped: ([\d,]+) files? kept in (\S+), all sha256-verified; the same "
            r"command fetches the rest \(stdout was closed\)",
            err.decode().strip().splitlines()[-1],
        )
        assert said is not None, err
        assert int(said[1].replace(",", "")) == len(finals)
        parts = [p for p in out.rglob("*.part")]
        assert len(parts) <= 4  # at most one in flight per connection, kept to resume
        assert 0 < len(finals) < len(sources)  # stopped, not carried on without a reader
        for path in finals:
            assert path.read_bytes() == sources[path.relative_to(out).as_posix()]
