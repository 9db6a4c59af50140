"""Hostile clients at pigeon serve: each attack costs the other clients nothing.

Clients that pipeline requests and never read their answers, whatever the body; requests
for a folder of 100,000 entries; HEAD of such a folder; 1-byte ranges of big files asking
for their digest; a protocol-relative path that would make an open redirect.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Background, free_port, pigeon_server, run_pigeon

BIG_FOLDER = 100_000
TCP_CLOSE = 7  # tcpi_state in TCP_INFO after a reset (Linux tcp_states.h)


@contextlib.contextmanager
def serving(root: Path, *extra: str) -> Iterator[tuple[int, Background]]:
    port = free_port()
    with pigeon_server(["serve", str(root), "--port", str(port), "--no-digest-cache", *extra]) as p:
        yield port, p
        assert b"Traceback" not in p.err, p.err[-3000:]


def exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` (closing the connection after it) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def get(port: int, target: str, *headers: str, method: str = "GET", timeout: float = 5) -> bytes:
    lines = "".join(f"{h}\r\n" for h in headers)
    request = f"{method} {target} HTTP/1.1\r\nHost: x\r\n{lines}Connection: close\r\n\r\n"
    return exchange(port, request.encode(), timeout)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def non_readers(port: int, request: bytes, count: int, pipelined: int) -> list[socket.socket]:
    """``count`` connections that each send ``pipelined`` requests and never read."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.settimeout(2)
        with contextlib.suppress(TimeoutError):  # the server stopped reading too: enough
            sock.sendall(request * pipelined)
        socks.append(sock)
    return socks


def dropped(sock: socket.socket, within: float) -> bool:
    """True when the server reset ``sock`` within ``within`` seconds, seen from its TCP state
    (reading would make it a client that reads). A FIN is not enough: it would leave the
    server's kernel holding the unsent answer."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_CLOSE:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    (root / "small.txt").write_bytes(b"hello pigeon\n")
    many = root / "many"
    many.mkdir()
    for i in range(BIG_FOLDER):
        os.close(os.open(many / f"file-{i:06d}.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    return root


def small_file_latency(port: int, until: threading.Event, times: list[float]) -> None:
    """Fetch small.txt over and over until ``until`` is set; the time each took (infinity
    when it failed)."""
    while not until.is_set():
        start = time.monotonic()
        try:
            answer = get(port, "/small.txt", timeout=30)
            ok = answer.endswith(b"hello pigeon\n")
        except OSError:
            ok = False
        times.append(time.monotonic() - start if ok else float("inf"))
        time.sleep(0.02)


def at_once(requests: list[Callable[[], bytes]]) -> list[bytes]:
    """The answers of ``requests`` made concurrently, one thread each."""
    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda r=r: answers.append(r())) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def probing(port: int) -> tuple[threading.Event, threading.Thread, list[float]]:
    """A thread measuring small-file latency until the event is set."""
    done, times = threading.Event(), list[float]()
    thread = threading.Thread(target=small_file_latency, args=(port, done, times), daemon=True)
    thread.start()
    return done, thread, times


# ----- 1. a client that reads nothing is dropped, whatever the body ---------------------------


@pytest.mark.parametrize(
    ("target", "slots", "pipelined", "within"),
    [("/sixty.bin", 30, 600, 5), ("/", 30, 600, 5), ("/missing.txt", 2, 40_000, 25)],
    ids=["small-file-remembered", "listing", "error-text"],
)
def test_non_readers_lose_their_slots_after_the_stall_timeout(
    tmp_path: Path, target: str, slots: int, pipelined: int, within: float
) -> None:
    """Connections pipelining requests and reading nothing hold every slot of
    --max-connections; after --stall-timeout they are dropped and others are served.

    Enough requests that the answers overflow the kernel's socket buffers (up to 4 MB on
    loopback): for 130-byte error texts that is ~32,000 answers the server must make first,
    so that case gets fewer slots and more time.
    """
    (tmp_path / "sixty.bin").write_bytes(os.urandom(60_000))
    for i in range(2000):  # a listing of ~200 KB
        (tmp_path / f"entry-{i:05d}-with-a-longer-name.txt").write_bytes(b"x")
    os.utime(tmp_path / "sixty.bin", (time.time() - 10, time.time() - 10))  # remembered
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    stall = 2.0
    limit = ["--max-connections", str(slots), "--stall-timeout", str(stall), "-q"]
    with serving(tmp_path, *limit) as (port, _proc):
        socks = non_readers(port, request, slots, pipelined)
        try:
            time.sleep(0.5)
            assert b"503" in get(port, "/sixty.bin").split(b"\r\n", 1)[0]  # all slots held
            start = time.monotonic()
            served = None
            while time.monotonic() - start < stall + within:
                head = get(port, "/sixty.bin")[:12]
                if head == b"HTTP/1.1 200":
                    served = time.monotonic() - start
                    break
                time.sleep(0.2)
            assert served is not None, "the non-readers kept every slot"
            print(f"{target}: served again {served:.1f} s after the slots were full")
            assert all(dropped(s, 5) for s in socks)
        finally:
            for s in socks:
                s.close()


@pytest.mark.parametrize("mode", [[], ["--no-sendfile"]], ids=["sendfile", "read-write"])
def test_a_slow_reader_is_served_at_its_pace(tmp_path: Path, mode: list[str]) -> None:
    """The deadline drops a client that takes nothing, never one that reads slowly: 12 MiB
    at ~2 MB/s with --stall-timeout 1 (one 8 MiB sendfile step takes 4 s at that pace)."""
    data = os.urandom(12 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    with serving(tmp_path, "--stall-timeout", "1", *mode) as (port, _proc):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.connect(("127.0.0.1", port))
            sock.settimeout(5)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while chunk := sock.recv(200_000):
                got += chunk
                time.sleep(0.1)
        assert got.partition(b"\r\n\r\n")[2] == data


def test_an_answer_the_kernel_holds_for_a_silent_client_is_not_orphaned(tmp_path: Path) -> None:
    """A whole answer handed to the kernel (logged 200) that the client never reads: when
    the connection ends (idle timeout), the server does not leave the kernel a socket full
    of data nobody watches; it waits at the client's pace, then resets it."""
    (tmp_path / "big.bin").write_bytes(os.urandom(1_500_000))
    args = ["--idle-timeout", "1", "--stall-timeout", "2"]
    with serving(tmp_path, *args) as (port, proc), socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        proc.wait_for(b'"GET /big.bin" 200 1500000')  # all of it went to the kernel
        assert dropped(sock, 10)
        held = subprocess.run(
            ["ss", "-tnH", "state", "fin-wait-1", f"sport = :{port}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert held.strip() == "", held


# ----- 1 and 3. a big folder costs the others nothing, in time or memory ----------------------


def test_twenty_non_readers_of_a_huge_listing_keep_memory_bounded(big_folder: Path) -> None:
    request = b"GET /many/ HTTP/1.1\r\nHost: x\r\n\r\n"
    with serving(big_folder, "--stall-timeout", "3", "-q") as (port, proc):
        pid = proc.proc.pid
        before = rss_mb(pid)
        done, prober, latencies = probing(port)
        socks = non_readers(port, request, 20, 600)
        try:
            peak = before
            for _ in range(20):
                peak = max(peak, rss_mb(pid))
                time.sleep(0.1)
            assert all(dropped(s, 10) for s in socks)
        finally:
            for s in socks:
                s.close()
            done.set()
            prober.join(30)
        time.sleep(0.5)
        after = rss_mb(pid)
        print(f"rss before {before:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB")
        print(f"small file: {len(latencies)} fetches, slowest {max(latencies) * 1000:.0f} ms")
        assert peak - before < 150, (before, peak)  # one shared listing, not one per client
        assert after - before < 100, (before, after)
        assert max(latencies) < 1.0


def test_slow_readers_arriving_one_by_one_hold_a_bounded_number_of_listings(
    big_folder: Path,
) -> None:
    """Each arrives after the last listing was made (so it cannot share it) and then reads
    nothing: pages in flight hold at most four listings' worth; beyond, 503."""
    with serving(big_folder, "-q") as (port, proc):
        pid = proc.proc.pid
        before = rss_mb(pid)
        socks, busy = [], 0
        try:
            for _ in range(8):
                [sock] = non_readers(port, b"GET /many/ HTTP/1.1\r\nHost: x\r\n\r\n", 1, 1)
                socks.append(sock)
                time.sleep(1.5)  # past the listing's sharing window
                sock.settimeout(0.2)
                with contextlib.suppress(TimeoutError):
                    busy += sock.recv(64).startswith(b"HTTP/1.1 503")
            peak = rss_mb(pid)
            assert get(port, "/small.txt").endswith(b"hello pigeon\n")
        finally:
            for sock in socks:
                sock.close()
        print(f"8 staggered slow readers: {busy} answered 503, rss {before:.1f} -> {peak:.1f} MB")
        assert busy >= 4
        assert peak - before < 150, (before, peak)


def test_concurrent_requests_for_a_huge_folder_do_not_stall_others(big_folder: Path) -> None:
    with serving(big_folder, "-q") as (port, _proc):
        done, prober, latencies = probing(port)
        pages = at_once([lambda: get(port, "/many/", "Accept: application/json", timeout=60)] * 4)
        done.set()
        prober.join(30)
        print(f"small file: {len(latencies)} fetches, slowest {max(latencies) * 1000:.0f} ms")
        assert len(pages) == 4
        for page in pages:
            body = page.partition(b"\r\n\r\n")[2]
            assert b"Transfer-Encoding: chunked" in page.partition(b"\r\n\r\n")[0]
            assert body.count(b'"name": "file-') == BIG_FOLDER
        assert max(latencies) < 1.0, max(latencies)  # was 4.75 s


def test_head_of_a_huge_folder_builds_no_listing(big_folder: Path) -> None:
    with serving(big_folder, "-q") as (port, _proc):
        start = time.monotonic()
        head = get(port, "/many/", method="HEAD")
        head_time = time.monotonic() - start
        start = time.monotonic()
        whole = get(port, "/many/")
        get_time = time.monotonic() - start
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
        assert b"text/html" in head and b"Content-Length" not in head
        assert whole.count(b'<a href="file-') == BIG_FOLDER
        assert head_time * 10 < get_time, (head_time, get_time)


def test_max_listing_cuts_the_page_with_a_note(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i:02d}.txt").write_bytes(b"x")
    (tmp_path / "a-folder").mkdir()
    with serving(tmp_path, "--max-listing", "10", "-q") as (port, _proc):
        page = get(port, "/").partition(b"\r\n\r\n")[2].decode()
        assert page.count("<tr>") == 10 and "a-folder/" in page  # folders first
        assert "showing the first 10 of 31 names" in page
        doc = json.loads(dechunk(get(port, "/?format=json")))
        assert len(doc["entries"]) == 10 and doc["truncated"] is True and doc["total"] == 31
        # a mirror of it takes what was listed and says the folder was cut: never "all done"
        out = tmp_path.parent / f"{tmp_path.name}-mirror"
        result = run_pigeon(["get", f"http://127.0.0.1:{port}/", "-r", "-o", f"{out}/"], timeout=60)
        assert result.returncode == 13, result.stderr
        assert b"the server listed only 10 of 31 names (its --max-listing)" in result.stderr
        assert b"Traceback" not in result.stderr
        assert sorted(p.name for p in out.iterdir()) == [
            "a-folder",
            *(f"f{i:02d}.txt" for i in range(9)),
        ]


def dechunk(answer: bytes) -> bytes:
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body += rest[:size]
        rest = rest[size + 2 :]


# ----- 5. digests of ranges never starve the others ------------------------------------------


def test_one_byte_ranges_asking_digests_of_big_files_starve_nobody(tmp_path: Path) -> None:
    """Each asks for a digest the server does not know: its hash goes on in the background
    (the answer's first byte goes out at once; its trailer, if any, follows the hash) while
    every other client is served as before."""
    (tmp_path / "small.txt").write_bytes(b"hello pigeon\n")
    for i in range(6):
        with (tmp_path / f"big{i}.img").open("wb") as f:
            f.truncate(1 << 30)
    zeros = hashlib.sha256()
    for _ in range(1 << 6):
        zeros.update(bytes(1 << 24))
    whole = base64.b64encode(zeros.digest()).decode()
    with serving(tmp_path, "-q") as (port, _proc):
        done, prober, latencies = probing(port)
        ask = ("Range: bytes=5-5", "Want-Repr-Digest: sha-256=9")
        answers = at_once(
            [functools.partial(get, port, f"/big{i}.img", *ask, timeout=60) for i in range(6)]
        )
        done.set()
        prober.join(30)
        print(f"small file: {len(latencies)} fetches, slowest {max(latencies) * 1000:.0f} ms")
        assert len(answers) == 6
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 206")
            if b"Transfer-Encoding: chunked" in answer:  # verified: the whole file's digest
                assert dechunk(answer) == b"\x00"
                assert f"Repr-Digest: sha-256=:{whole}:".encode() in answer
            else:
                assert answer.endswith(b"\r\n\r\n\x00")
        assert max(latencies) < 0.5, max(latencies)


# ----- 12. no open redirect -------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["//evil.example", "//evil.example?x=1", "///evil.example", "/%2Fevil.example"]
)
def test_a_folder_redirect_is_never_protocol_relative(tmp_path: Path, target: str) -> None:
    (tmp_path / "evil.example").mkdir()
    with serving(tmp_path, "-q") as (port, _proc):
        answer = get(port, target).decode("latin-1")
        assert answer.startswith("HTTP/1.1 301")
        location = next(
            line.split(":", 1)[1].strip()
            for line in answer.split("\r\n")
            if line.lower().startswith("location:")
        )
        assert location.startswith("/evil.example/") and not location.startswith("//")
        assert location.endswith("?x=1") == target.endswith("?x=1")
