"""pigeon serve's digests: the first byte at once whatever the size, the digest as a trailer.

A request with ``Want-Repr-Digest`` for a file whose digest is not known yet is answered
chunked, with ``Repr-Length`` and the ``Repr-Digest`` trailer computed alongside the send;
later answers carry the digest as a header. Files are made and left alone for longer than
``DIGEST_SETTLED`` seconds first, since only digests of settled files are kept. Answers are
parsed with h11 as a client, over real loopback sockets; curl checks what plain clients see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h11
import pytest

from pigeon.aio.serve import FileServer
from pigeon.config import ServeConfig
from pigeon.fs.digests import DIGEST_SETTLED
from tests.helpers import PIGEON, Background, free_port, json_lines

pytestmark = pytest.mark.interop

HUGE = 64 << 30
WANT = ("Want-Repr-Digest", "sha-256=1")


@dataclass
class Got:
    """One answer as an h11 client saw it."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    trailers: dict[str, str] | None = None  # None: the body never ended
    first_byte: float | None = None  # seconds from sending the request to the first body byte


def request(
    port: int, target: str, *headers: tuple[str, str], version: str = "1.1"
) -> tuple[socket.socket, h11.Connection, float]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    conn = h11.Connection(h11.CLIENT)
    head = [("Host", "test"), *headers]
    sent = time.perf_counter()
    sock.sendall(
        conn.send(h11.Request(method="GET", target=target, headers=head, http_version=version))
    )
    sock.sendall(conn.send(h11.EndOfMessage()))
    return sock, conn, sent


def read(sock: socket.socket, conn: h11.Connection, sent: float, limit: int | None = None) -> Got:
    """Read one answer (its body up to ``limit`` bytes, then stop), and close."""
    got = Got()
    with sock:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return got  # closed before the body ended
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(1 << 20))
            elif isinstance(event, h11.Response):
                got.status = event.status_code
                got.headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                if got.first_byte is None:
                    got.first_byte = time.perf_counter() - sent
                got.body += event.data
                if limit is not None and len(got.body) >= limit:
                    return got
            elif isinstance(event, h11.EndOfMessage):
                got.trailers = {k.decode().lower(): v.decode() for k, v in event.headers}
                return got
            else:
                return got


def get(port: int, target: str, *headers: tuple[str, str], limit: int | None = None) -> Got:
    return read(*request(port, target, *headers), limit=limit)


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def sparse(path: Path, size: int) -> Path:
    with path.open("wb"):
        pass
    os.truncate(path, size)
    if path.stat().st_blocks * 512 > 1 << 20:
        pytest.skip("the temporary file system does not keep sparse files")
    return path


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files unchanged for longer than DIGEST_SETTLED: their digests may be kept."""
    root = tmp_path_factory.mktemp("digests")
    for name, size in (("mid.bin", 12 << 20), ("big.bin", 96 << 20), ("more.bin", 9 << 20)):
        (root / name).write_bytes(os.urandom(size))
    (root / "dir").mkdir()
    (root / "dir" / "listed.bin").write_bytes(os.urandom(10 << 20))
    time.sleep(DIGEST_SETTLED + 0.2)
    return root


@contextlib.contextmanager
def in_process(root: Path) -> Iterator[tuple[int, FileServer]]:
    """A FileServer on its own event loop thread: the test can count its computations."""
    loop = asyncio.new_event_loop()
    state = FileServer(ServeConfig(root=str(root), quiet=True), lambda _event: None)
    stop = asyncio.Event()
    ports: list[int] = []
    ready = threading.Event()

    async def main() -> None:
        server = await asyncio.start_server(state.on_connect, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        await stop.wait()
        server.close()
        await state.shutdown()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield ports[0], state
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def start(root: Path, *extra: str) -> tuple[int, Background]:
    """A ``pigeon serve`` process with a JSON access log (stopped by the caller)."""
    port = free_port(socket.SOCK_STREAM)
    args = ["serve", str(root), "--port", str(port), "--bind", "127.0.0.1", *extra]
    proc = Background([*PIGEON, *args, "--log-format", "json"])
    proc.wait_for(b"listening")
    return port, proc


def records(proc: Background, wanted: int) -> list[dict[str, object]]:
    """The access-log records, once ``wanted`` of them were written."""
    deadline = time.monotonic() + 10
    while True:
        lines = b"\n".join(ln for ln in proc.err.splitlines() if ln.startswith(b"{"))
        found = [r for r in json_lines(lines) if "status" in r]
        if len(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_first_byte_of_a_64_gib_file_at_once(tmp_path: Path) -> None:
    """64 GiB whose digest nobody knows: the body starts within a second (chunked, digest as
    trailer); without Want-Repr-Digest, Content-Length as before. Then the client leaves."""
    sparse(tmp_path / "huge.img", HUGE)
    port, proc = start(tmp_path, "--digest-cache", str(tmp_path / "cache" / "d.sqlite3"))
    try:
        got = get(port, "/huge.img", WANT, limit=1 << 20)
        assert got.status == 200 and got.first_byte is not None
        print(f"first body byte of 64 GiB, digest unknown: {got.first_byte * 1000:.1f} ms")
        assert got.first_byte < 1.0
        assert got.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in got.headers
        assert got.headers["trailer"] == "Repr-Digest"
        assert got.headers["repr-length"] == str(HUGE)
        assert bytes(got.body[:4096]) == bytes(4096)
        plain = get(port, "/huge.img", limit=1 << 20)
        assert plain.headers["content-length"] == str(HUGE) and plain.first_byte is not None
        assert "transfer-encoding" not in plain.headers and plain.first_byte < 1.0
        first_log = records(proc, 1)[0]
        assert first_log["cut"] is True and first_log["status"] == 200  # the client left
        assert isinstance(first_log["bytes"], int) and first_log["bytes"] >= 1 << 20
    finally:
        assert proc.stop() == 0
    assert b"Traceback" not in proc.err


def test_trailer_digest_then_header(settled: Path) -> None:
    """The chunked answer's trailer is the file's SHA-256; the next answer has it as a header."""
    data = (settled / "mid.bin").read_bytes()
    with in_process(settled) as (port, state):
        first = get(port, "/mid.bin", WANT)
        assert first.headers["transfer-encoding"] == "chunked"
        assert first.headers["repr-length"] == str(len(data))
        assert first.trailers == {"repr-digest": repr_digest(data)}
        assert bytes(first.body) == data
        second = get(port, "/mid.bin", WANT)
        assert second.headers["repr-digest"] == repr_digest(data)
        assert second.headers["content-length"] == str(len(data))
        assert "transfer-encoding" not in second.headers and bytes(second.body) == data
        assert state.digests.computations == 1


def test_concurrent_requests_share_one_computation(settled: Path) -> None:
    data = (settled / "big.bin").read_bytes()
    with in_process(settled) as (port, state):
        pending = [request(port, "/big.bin", WANT) for _ in range(3)]  # none read yet
        time.sleep(0.2)
        results: list[Got] = []
        readers = [threading.Thread(target=lambda p=p: results.append(read(*p))) for p in pending]
        for thread in readers:
            thread.start()
        for thread in readers:
            thread.join(30)
        assert len(results) == 3
        for got in results:
            assert bytes(got.body) == data
            digest = (got.trailers or {}).get("repr-digest") or got.headers["repr-digest"]
            assert digest == repr_digest(data)
        assert any(got.trailers for got in results)
        assert state.digests.computations == 1


def test_listing_digests_share_the_cache(settled: Path) -> None:
    data = (settled / "dir" / "listed.bin").read_bytes()
    with in_process(settled) as (port, state):
        listing = get(port, "/dir/?format=json&digest=sha-256")
        # a large file's unknown digest is not waited for: left out, hashed in the background
        assert hashlib.sha256(data).hexdigest() not in listing.body.decode()
        assert listing.first_byte is not None and listing.first_byte < 0.5
        got = get(port, "/dir/listed.bin", WANT)  # joins that computation
        assert state.digests.computations == 1
        sent = (got.trailers or {}).get("repr-digest") or got.headers.get("repr-digest")
        assert sent == repr_digest(data)
        again = get(port, "/dir/?format=json&digest=sha-256")
        assert hashlib.sha256(data).hexdigest() in again.body.decode()
        got = get(port, "/dir/listed.bin", WANT)
        assert got.headers["repr-digest"] == repr_digest(data) and "content-length" in got.headers
        assert state.digests.computations == 1


def test_a_range_never_waits_for_a_whole_file_hash(tmp_path: Path) -> None:
    """A ranged request starts the hash in the background and is answered at once without it;
    one that finds a computation far enough along gets the digest as a trailer."""
    sparse(tmp_path / "huge.img", HUGE)
    with in_process(tmp_path) as (port, state):
        got = get(port, "/huge.img", WANT, ("Range", "bytes=100-199"))
        assert got.status == 206 and got.first_byte is not None and got.first_byte < 0.5
        assert got.headers["content-length"] == "100" and bytes(got.body) == bytes(100)
        assert "repr-digest" not in got.headers and "trailer" not in got.headers
        assert state.digests.computations == 1 and len(state.digests.running) == 1  # background
        time.sleep(0.3)  # the background hash is well past byte 1 MiB now
        rest = get(port, "/huge.img", WANT, ("Range", f"bytes={1 << 20}-"), limit=1 << 20)
        assert rest.status == 206 and rest.first_byte is not None and rest.first_byte < 0.5
        assert rest.headers["content-range"] == f"bytes {1 << 20}-{HUGE - 1}/{HUGE}"
        assert rest.headers["transfer-encoding"] == "chunked"
        assert rest.headers["trailer"] == "Repr-Digest"
        assert state.digests.computations == 1  # joined, not started again


def test_a_file_changed_while_sent_is_never_verified(tmp_path: Path) -> None:
    path = tmp_path / "moving.bin"
    path.write_bytes(os.urandom(40 << 20))
    time.sleep(0.1)  # a later write moves the timestamps (they advance in clock ticks)
    with in_process(tmp_path) as (port, _state):
        sock, conn, sent = request(port, "/moving.bin", WANT)
        head = read_head(sock, conn)
        assert head.headers["transfer-encoding"] == "chunked"
        with path.open("r+b") as f:  # same size, other bytes
            f.seek(30 << 20)
            f.write(os.urandom(1 << 20))
        got = read(sock, conn, sent)
        assert got.trailers is None  # cut before the last chunk: no digest to trust


def read_head(sock: socket.socket, conn: h11.Connection) -> Got:
    got = Got()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(4096))
        elif isinstance(event, h11.Response):
            got.status = event.status_code
            got.headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            return got


def test_digests_survive_a_restart_and_stale_ones_are_not_used(
    settled: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "digests.sqlite3"
    path = settled / "more.bin"
    data = path.read_bytes()
    port, proc = start(settled, "--digest-cache", str(cache))
    try:
        first = get(port, "/more.bin", WANT)
        assert first.trailers == {"repr-digest": repr_digest(data)}
    finally:
        assert proc.stop() == 0
    port, proc = start(settled, "--digest-cache", str(cache))
    try:
        again = get(port, "/more.bin", WANT, limit=1)
        assert again.headers["repr-digest"] == repr_digest(data)  # known at once, from disk
        assert again.headers["content-length"] == str(len(data))
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same size
        touched = get(port, "/more.bin", WANT)
        assert "repr-digest" not in touched.headers  # the stale entry is not used
        assert touched.trailers == {"repr-digest": repr_digest(data)}
    finally:
        assert proc.stop() == 0


def test_a_corrupt_cache_file_is_one_warning(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(os.urandom(5 << 20))
    cache = tmp_path / "digests.sqlite3"
    cache.write_bytes(b"this is not a database\n" * 300)
    port, proc = start(tmp_path, "--digest-cache", str(cache))
    try:
        got = get(port, "/f.bin", WANT)
        assert got.status == 200 and got.trailers is not None
    finally:
        assert proc.stop() == 0
    warnings = [ln for ln in proc.err.decode().splitlines() if "digest cache" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("warning: digest cache"), proc.err
    assert "serving without it" in warnings[0] and b"Traceback" not in proc.err


def test_curl_gets_content_length_and_no_chunking(settled: Path, curl: str) -> None:
    port, proc = start(settled, "--no-digest-cache")
    try:
        url = f"http://127.0.0.1:{port}/mid.bin"
        for extra in ([], ["-0", "-H", "Want-Repr-Digest: sha-256=1"]):  # HTTP/1.0: no chunks
            result = subprocess.run(
                [curl, "-sS", "-D", "-", "-o", "/dev/null", *extra, url],
                capture_output=True,
                timeout=30,
                check=True,
            )
            head = result.stdout.decode().lower()
            assert f"content-length: {12 << 20}" in head and "transfer-encoding" not in head
    finally:
        assert proc.stop() == 0
