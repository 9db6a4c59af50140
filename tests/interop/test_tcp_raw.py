"""pigeon tcp listen --raw as a drop-in for nc -l: nc and socat on the other side, binary data
both ways, 1 GiB to a file, each direction half-closed on its own, clients one after another."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import (
    PIGEON,
    Background,
    free_port,
    one_line_error,
    pigeon_server,
    run_pigeon,
    wait_bound,
)

pytestmark = pytest.mark.interop

EVERY_BYTE = bytes(range(256)) * 4096  # 1 MiB holding every byte value


def raw_listener(port: int, *extra: str, stdin: bool = False) -> Background:
    """pigeon tcp listen --raw, once it says it is listening."""
    proc = Background([*PIGEON, "tcp", "listen", "--port", str(port), "--raw", *extra], stdin=stdin)
    wait_bound(port, socket.SOCK_STREAM)
    return proc


def test_nc_client_to_raw_listener_binary_both_ways(socat: str) -> None:
    """Every byte value arrives unchanged on stdout; stdin reaches the client; nothing but the
    client's bytes is on stdout (the listening and connection lines are on stderr)."""
    port = free_port()
    server = raw_listener(port, "--once", stdin=True)
    try:
        client = subprocess.Popen(
            [socat, "-t", "10", "-", f"TCP:127.0.0.1:{port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # (pigeon reads stdin once a client is there: a 1 MiB write waits for it)
        feeding = threading.Thread(
            target=server.send_stdin, args=(EVERY_BYTE[::-1],), kwargs={"close": True}
        )
        feeding.start()
        client_out, client_err = client.communicate(EVERY_BYTE, timeout=30)
        feeding.join(10)
        assert server.finish(timeout=20) == 0, server.err
    finally:
        server.stop()
    assert client.returncode == 0, client_err
    assert server.out == EVERY_BYTE
    assert client_out == EVERY_BYTE[::-1]
    assert b" connected" in server.err and b" disconnected" in server.err


def test_nc_sends_one_gib_to_a_file(nc: str, tmp_path: Path) -> None:
    """``pigeon tcp listen --raw --once > backup.tar`` receiving from ``nc -N``: 1 GiB lands
    byte for byte (sha256). Not timed: the figures are in the commit message."""
    block = os.urandom(1 << 20)
    source = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with source.open("wb") as f:
        for i in range(1024):  # every MiB differs: a lost or repeated block changes the hash
            chunk = struct.pack(">Q", i) + block[8:]
            f.write(chunk)
            expected.update(chunk)
    target = tmp_path / "received.bin"
    port = free_port()
    with target.open("wb") as out:
        server = subprocess.Popen(
            [*PIGEON, "tcp", "listen", "--port", str(port), "--raw", "--once", "-q"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        try:
            wait_bound(port, socket.SOCK_STREAM)
            with source.open("rb") as f:
                sender = subprocess.run(
                    [nc, "-N", "127.0.0.1", str(port)], stdin=f, capture_output=True, timeout=120
                )
            _, err = server.communicate(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert sender.returncode == 0, sender.stderr
    assert server.returncode == 0, err
    assert target.stat().st_size == 1 << 30
    got = hashlib.sha256()
    with target.open("rb") as f:
        while chunk := f.read(8 << 20):
            got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()


def test_stdin_goes_to_an_nc_client(nc: str) -> None:
    """stdin to the client; its end shuts pigeon's write side, so nc sees end of file."""
    port = free_port()
    server = raw_listener(port, "--once", stdin=True)
    try:
        client = subprocess.Popen(
            [nc, "127.0.0.1", str(port)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        feeding = threading.Thread(
            target=server.send_stdin, args=(EVERY_BYTE,), kwargs={"close": True}
        )
        feeding.start()  # (pigeon reads stdin once a client is there)
        client_out, _ = client.communicate(timeout=30)
        feeding.join(10)
        assert server.finish(timeout=20) == 0, server.err
    finally:
        server.stop()
    assert client_out == EVERY_BYTE
    assert server.out == b""


def read_to_end(stream: object, into: list[bytes], done: threading.Event) -> None:
    assert hasattr(stream, "read")
    into.append(stream.read())
    done.set()


def test_client_half_close_ends_stdout_but_stdin_still_flows() -> None:
    """The client shuts down writing: pigeon's stdout ends (its reader sees end of file) while
    pigeon is still running and still sends stdin to the client, then half-closes too."""
    port = free_port()
    server = subprocess.Popen(
        [*PIGEON, "tcp", "listen", "--port", str(port), "--raw", "--once", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_bound(port, socket.SOCK_STREAM)
        assert server.stdin is not None and server.stdout is not None
        out: list[bytes] = []
        ended = threading.Event()
        threading.Thread(target=read_to_end, args=(server.stdout, out, ended), daemon=True).start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"from the client\x00\xff")
            client.shutdown(socket.SHUT_WR)
            assert ended.wait(10), "pigeon's stdout did not end after the client's half-close"
            assert out == [b"from the client\x00\xff"]
            assert server.poll() is None  # still there, for the other direction
            server.stdin.write(b"still answering")
            server.stdin.flush()
            got = b""
            while len(got) < len(b"still answering"):
                got += client.recv(100)
            assert got == b"still answering"
            server.stdin.close()  # stdin's end: pigeon shuts down its write side
            assert client.recv(100) == b""
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()


def test_stdin_end_half_closes_and_the_client_can_still_send() -> None:
    """stdin ends first: the client sees end of file, and what it sends afterwards still
    reaches pigeon's stdout."""
    port = free_port()
    server = raw_listener(port, "--once", "-q", stdin=True)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            server.send_stdin(b"bye from pigeon", close=True)
            got = b""
            while chunk := client.recv(100):
                got += chunk
            assert got == b"bye from pigeon"  # and then end of file: pigeon's half-close
            client.sendall(b"after your end")
            client.shutdown(socket.SHUT_WR)
            assert server.finish(timeout=10) == 0, server.err
    finally:
        server.stop()
    assert server.out == b"after your end"


def test_without_once_clients_are_served_one_after_another(socat: str) -> None:
    """As nc -l -k: each client's bytes are appended to stdout; the second waits its turn."""
    port = free_port()
    server = raw_listener(port)  # stdin is /dev/null: each client gets end of file at once
    try:
        for payload in (b"first\n", b"second\x00\n"):
            subprocess.run(
                [socat, "-u", "-", f"TCP:127.0.0.1:{port}"], input=payload, check=True, timeout=10
            )
            server.wait_for(payload, stream="out")
        deadline = time.monotonic() + 10
        while server.err.count(b"disconnected") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.proc.poll() is None  # still listening
    finally:
        server.stop()
    assert server.out == b"first\nsecond\x00\n"
    assert server.err.count(b"disconnected") == 2


def test_help_example_tar_through_tcp_connect(tmp_path: Path) -> None:
    """`pigeon tcp listen --port 9000 --raw --once > backup.tar` fed by
    `tar c docs | pigeon tcp connect [::1] 9000`, on a free port: the archive arrives whole
    (pigeon tcp connect keeps sending after the listener's own stdin ended at once)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.bin").write_bytes(os.urandom(3 << 20))
    (docs / "b.txt").write_text("notes\n")
    port = free_port(host="::1")
    backup = tmp_path / "backup.tar"
    with backup.open("wb") as out:
        server = subprocess.Popen(
            [*PIGEON, "tcp", "listen", "--port", str(port), "--raw", "--once"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
        )
        try:
            wait_bound(port, socket.SOCK_STREAM, host="::1")
            tar = subprocess.Popen(["tar", "c", "docs"], cwd=tmp_path, stdout=subprocess.PIPE)
            sender = subprocess.run(  # tar c docs | pigeon tcp connect [::1] PORT
                [*PIGEON, "tcp", "connect", "[::1]", str(port)],
                stdin=tar.stdout,
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert tar.stdout is not None
            tar.stdout.close()
            assert tar.wait(timeout=10) == 0
            _, err = server.communicate(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert sender.returncode == 0, sender.stderr
    assert server.returncode == 0, err
    expected = subprocess.run(["tar", "c", "docs"], cwd=tmp_path, capture_output=True, check=True)
    listed = subprocess.run(["tar", "tf", str(backup)], capture_output=True, check=True)
    assert sorted(listed.stdout.split()) == [b"docs/", b"docs/a.bin", b"docs/b.txt"]
    assert backup.stat().st_size == len(expected.stdout)


def test_listen_without_raw_still_logs_lines(nc: str) -> None:
    port = free_port()
    with pigeon_server(["tcp", "listen", "--port", str(port), "--once"]) as server:
        subprocess.run([nc, "-N", "127.0.0.1", str(port)], input=b"hello\n", timeout=10)
        assert server.finish() == 0
    assert server.out.decode().rstrip().endswith("hello")
    assert b"127.0.0.1:" in server.err and b" connected" in server.err
    assert b"disconnected: 6 bytes in" in server.err


def test_raw_refuses_json_and_echo() -> None:
    both = run_pigeon(["tcp", "listen", "--raw", "--json"])
    assert both.returncode == 2 and "--json" in one_line_error(both)
    echo = run_pigeon(["tcp", "listen", "--raw", "--echo"])
    assert echo.returncode == 2 and b"not allowed with" in echo.stderr
