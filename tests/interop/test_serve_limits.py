"""pigeon serve under pressure: limits, timeouts, misbehaving clients, shutdown, 1000 clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PIGEON, background, free_port, require_tool
from tests.interop.serve_fixtures import Served, make_tree, serve


@contextlib.contextmanager
def server(tmp_path: Path, *extra: str) -> Iterator[Served]:
    root, outside = make_tree(tmp_path)
    yield from serve(root, outside, *extra)


def get(port: int, target: str = "/small.txt", timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_slowloris_client_dropped_while_others_are_served(tmp_path: Path) -> None:
    with server(tmp_path, "--header-timeout", "1.5") as s:
        slow = socket.create_connection(("127.0.0.1", s.port))
        dropped = threading.Event()

        def drip() -> None:
            try:
                for byte in b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n":
                    slow.send(bytes([byte]))
                    time.sleep(0.5)
            except OSError:
                dropped.set()

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        start = time.monotonic()
        assert get(s.port).endswith(b"hello pigeon\n")
        assert time.monotonic() - start < 1.0  # others are not held up
        assert closed_within(slow, 5)
        slow.close()


def test_client_that_sends_nothing_is_timed_out(tmp_path: Path) -> None:
    with (
        server(tmp_path, "--header-timeout", "0.5") as s,
        socket.create_connection(("127.0.0.1", s.port)) as idle,
    ):
        assert closed_within(idle, 5)


def test_idle_keep_alive_connection_closed_after_idle_timeout(tmp_path: Path) -> None:
    with (
        server(tmp_path, "--idle-timeout", "0.5") as s,
        socket.create_connection(("127.0.0.1", s.port)) as sock,
    ):
        sock.sendall(b"GET /one.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        assert sock.recv(65536).endswith(b"\x7f")
        start = time.monotonic()
        assert closed_within(sock, 5)
        assert 0.3 < time.monotonic() - start < 3


def test_oversized_header_431_and_request_line_414(tmp_path: Path) -> None:
    with server(tmp_path, "--max-header-bytes", "4096") as s:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 431")
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
            sock.sendall(b"GET /" + b"a" * 8000)
            assert sock.recv(100).startswith(b"HTTP/1.1 414")
        assert get(s.port).endswith(b"hello pigeon\n")


def test_beyond_max_connections_is_503_not_a_crash(tmp_path: Path) -> None:
    with server(tmp_path, "--max-connections", "3") as s:
        held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
        time.sleep(0.3)
        assert get(s.port).startswith(b"HTTP/1.1 503")
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert get(s.port).endswith(b"hello pigeon\n")


def test_abrupt_disconnects_mid_body_cost_others_nothing(tmp_path: Path) -> None:
    with server(tmp_path) as s:
        big = s.root / "big.bin"
        big.write_bytes(os.urandom(32 << 20))
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", s.port))
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(100_000)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST mid-body
        assert get(s.port).endswith(b"hello pigeon\n")
        assert get(s.port, "/big.bin", timeout=30).endswith(big.read_bytes()[-1000:])


@pytest.mark.parametrize("mode", [[], ["--no-sendfile"]], ids=["sendfile", "fallback"])
def test_file_truncated_while_sent_ends_the_response(tmp_path: Path, mode: list[str]) -> None:
    with server(tmp_path, *mode) as s:
        big = s.root / "shrinking.bin"
        big.write_bytes(b"x" * (64 << 20))
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /shrinking.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            received = len(sock.recv(65536))
            with big.open("r+b") as f:
                f.truncate(1 << 20)
            start = time.monotonic()
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
            assert time.monotonic() - start < 10
        assert received < (64 << 20)  # the response was cut, not padded or hung
        assert get(s.port).endswith(b"hello pigeon\n")


def test_sigterm_lets_a_transfer_finish_and_exits_0(tmp_path: Path) -> None:
    with server(tmp_path, "--grace", "10") as s:
        big = s.root / "big.bin"
        big.write_bytes(os.urandom(8 << 20))
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            data = sock.recv(65536)
            s.proc.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
            while chunk := sock.recv(1 << 20):
                data += chunk
        assert data.endswith(big.read_bytes()[-4096:])
        assert s.proc.finish(timeout=10) == 0
        assert b"stopping" not in s.proc.err and b"Traceback" not in s.proc.err  # nothing cut


def test_sigint_cuts_a_slow_transfer_after_the_grace_period(tmp_path: Path) -> None:
    """One line says a transfer was cut, its access-log line says how far it got; no traceback."""
    with server(tmp_path, "--grace", "0.5", "--log-format", "json") as s:
        big = s.root / "big.img"
        big.touch()
        os.truncate(big, 2 << 30)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", s.port))
            sock.sendall(b"GET /big.img HTTP/1.1\r\nHost: x\r\n\r\n")
            data = sock.recv(4096)  # the head and a little: then the client stops reading
            time.sleep(0.3)
            start = time.monotonic()
            s.proc.proc.send_signal(signal.SIGINT)
            code = s.proc.finish(timeout=10)
            stopped_in = time.monotonic() - start
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):  # what the kernel still holds for us
                    data += chunk
        err = s.proc.err.decode()
        assert code == 0 and "Traceback" not in err and stopped_in < 3, err
        assert err.count("stopping: 1 transfer cut after the grace period") == 1
        logged = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
        (cut,) = [r for r in logged if r.get("path") == "/big.img"]
        head_length = data.index(b"\r\n\r\n") + 4
        assert cut["status"] == 200 and cut["cut"] is True
        assert 0 < cut["bytes"] == len(data) - head_length < 2 << 30


def test_sigterm_with_idle_keep_alive_exits_promptly(tmp_path: Path) -> None:
    with (
        server(tmp_path, "--idle-timeout", "60") as s,
        socket.create_connection(("127.0.0.1", s.port)) as sock,
    ):
        sock.sendall(b"GET /one.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        start = time.monotonic()
        s.proc.proc.send_signal(signal.SIGINT)
        assert s.proc.finish(timeout=10) == 0
        assert time.monotonic() - start < 3
        assert b"Traceback" not in s.proc.err and b"stopping" not in s.proc.err


@pytest.mark.slow
def test_thousand_concurrent_downloads(tmp_path: Path) -> None:
    with server(tmp_path, "--quiet") as s:
        want = (s.root / "mib.bin").read_bytes()[:65536]
        (s.root / "64k.bin").write_bytes(want)

        async def one() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
            writer.write(b"GET /64k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return data

        async def crowd() -> list[bytes]:
            return await asyncio.gather(*(one() for _ in range(1000)))

        replies = asyncio.run(crowd())
    assert sum(r.startswith(b"HTTP/1.1 200") and r.endswith(want) for r in replies) == 1000


def test_out_of_file_descriptors_backs_off_logs_once_and_recovers(tmp_path: Path) -> None:
    root, _outside = make_tree(tmp_path)
    port = free_port()
    prlimit = require_tool("prlimit")
    argv = [prlimit, "--nofile=40", *PIGEON, "serve", str(root), "--port", str(port), "-q"]
    with background(argv) as proc:
        proc.wait_for(b"listening")
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
        time.sleep(2.5)  # accept fails with EMFILE several times meanwhile
        for sock in held:
            sock.close()
        time.sleep(1.5)
        assert get(port).endswith(b"hello pigeon\n")
        assert proc.proc.poll() is None
    err = proc.err.decode()
    assert err.count("out of file descriptors") == 1, err[-2000:]
    assert "Traceback" not in err


def test_client_that_stops_reading_is_dropped_after_stall_timeout(tmp_path: Path) -> None:
    with server(tmp_path, "--stall-timeout", "1") as s:
        (s.root / "big.bin").write_bytes(b"z" * (64 << 20))
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(3)  # read nothing: buffers fill, the server's send stalls
            received = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
        assert received < (64 << 20)  # dropped, not waited for forever
        assert get(s.port).endswith(b"hello pigeon\n")


def test_json_access_log(tmp_path: Path) -> None:
    with server(tmp_path, "--log-format", "json") as s:
        assert get(s.port, "/one.bin").endswith(b"\x7f")
        s.proc.wait_for(b'"status": 200', stream="err")
    line = next(ln for ln in s.proc.err.decode().splitlines() if ln.startswith("{"))
    entry = json.loads(line)
    assert entry["method"] == "GET" and entry["path"] == "/one.bin" and entry["bytes"] == 1
    assert entry["client"].startswith("127.0.0.1:") and entry["ms"] >= 0


def test_quiet_has_no_access_log(tmp_path: Path) -> None:
    with server(tmp_path, "--quiet") as s:
        assert get(s.port).endswith(b"hello pigeon\n")
        time.sleep(0.2)
    assert b"GET /small.txt" not in s.proc.err
