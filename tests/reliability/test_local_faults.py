"""Local faults on the serving side: files and folders the server may not read, a file
deleted while it is being sent. Each is a clear refusal, and the server keeps serving.

The suite runs as root, which reads everything; these tests start pigeon serve with the
DAC-override capabilities dropped (setpriv), so ordinary permission bits apply to it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PIGEON, background, free_port, require_root, require_tool
from tests.tutorial_peers import read_until_close

NOBODY = 65534


def http_get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.fixture
def restricted(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    require_root()
    setpriv = require_tool("setpriv")
    share = tmp_path / "share"
    share.mkdir()
    (share / "ok.txt").write_text("readable\n")
    closed = share / "closed.txt"
    closed.write_text("you may not read me\n")
    os.chown(closed, NOBODY, NOBODY)
    closed.chmod(0o600)
    locked = share / "locked"
    locked.mkdir()
    (locked / "inner.txt").write_text("behind a locked folder\n")
    os.chown(locked, NOBODY, NOBODY)
    locked.chmod(0o700)
    port = free_port()
    no_dac = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    with background([*no_dac, *PIGEON, "serve", str(share), "--port", str(port)]) as server:
        server.wait_for(b"listening")
        yield share, port
        assert server.proc.poll() is None


def test_unreadable_file_and_folder_are_refused_and_serving_goes_on(
    restricted: tuple[Path, int],
) -> None:
    _share, port = restricted
    for target in ("/closed.txt", "/locked/", "/locked/inner.txt"):
        reply = http_get(port, target)
        status = int(reply.split(b" ", 2)[1])
        assert status in (403, 404), (target, reply[:120])
        assert b"read me" not in reply and b"locked folder" not in reply
    listing = http_get(port, "/?format=json")
    assert listing.startswith(b"HTTP/1.1 200")
    assert read_until_close(("127.0.0.1", port), b"closed.txt") == b""  # tutorial: nothing
    assert http_get(port, "/ok.txt").endswith(b"readable\n")


def test_file_deleted_while_being_sent_is_sent_whole(tmp_path: Path) -> None:
    """An open file stays readable after unlink: the client gets the file it asked for,
    complete, and later requests get 404."""
    share = tmp_path / "share"
    share.mkdir()
    big = share / "big.bin"
    payload = os.urandom(32 << 20)
    big.write_bytes(payload)
    port = free_port()
    with background([*PIGEON, "serve", str(share), "--port", str(port), "-q"]) as server:
        server.wait_for(b"listening")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            first = sock.recv(65536)
            big.unlink()  # while the server is still sending
            time.sleep(0.1)
            data = first
            while chunk := sock.recv(1 << 20):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == payload
        assert http_get(port, "/big.bin").startswith(b"HTTP/1.1 404")
        assert server.proc.poll() is None
