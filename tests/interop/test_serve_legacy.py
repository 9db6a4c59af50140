"""pigeon serve and the tutorial's file protocol: send a bare name, read until close."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests import tutorial_peers as tutorial
from tests.interop.serve_fixtures import SECRET, Served, make_tree, serve

pytestmark = pytest.mark.interop


def test_tutorial_client_downloads_a_present_file(served: Served) -> None:
    data = tutorial.file_client(("127.0.0.1", served.port), "small.txt")
    assert data == b"hello pigeon\n"


def test_tutorial_client_gets_nothing_for_missing_and_forbidden(served: Served) -> None:
    for name in (
        "missing.txt",
        "../outside/secret.txt",
        "/etc/passwd",
        "link-out",
        "fifo",
        ".hidden",
        "sub",
    ):
        assert tutorial.file_client(("127.0.0.1", served.port), name) == b"", name


def test_read_until_close_gets_a_large_file_whole(served: Served) -> None:
    data = tutorial.read_until_close(("127.0.0.1", served.port), b"mib.bin")
    assert data == (served.root / "mib.bin").read_bytes()


def test_chinese_name_and_subfolder(served: Served) -> None:
    got = tutorial.read_until_close(("127.0.0.1", served.port), "sub/深/nested.txt".encode())
    assert got == b"nested\n"
    spaced = tutorial.read_until_close(
        ("127.0.0.1", served.port), "name with spaces 中文.txt".encode()
    )
    assert spaced == "空格和中文\n".encode()


def test_name_in_several_segments_and_nc_newline(served: Served, nc: str) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"sm")
        sock.sendall(b"all.txt")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data == b"hello pigeon\n"
    typed = subprocess.run(
        [nc, "-q", "5", "127.0.0.1", str(served.port)],
        input=b"small.txt\n",
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert typed.stdout == b"hello pigeon\n"


def test_name_that_is_a_prefix_of_an_http_method(tmp_path: Path) -> None:
    """``GE`` may still become ``GET /...``: it waits as long as a request head may take
    (--header-timeout), then it is a name; with a newline it is one at once."""
    root, outside = make_tree(tmp_path)
    (root / "GE").write_bytes(b"not http")
    for served in serve(root, outside, "--header-timeout", "1.5"):
        start = time.monotonic()
        assert tutorial.read_until_close(("127.0.0.1", served.port), b"GE") == b"not http"
        assert 1.0 < time.monotonic() - start < 5
        start = time.monotonic()
        assert tutorial.read_until_close(("127.0.0.1", served.port), b"GE\n") == b"not http"
        assert time.monotonic() - start < 1.0


def test_overlong_and_binary_names_get_nothing(served: Served) -> None:
    for name in (b"a" * 1500, b"\xff\xfe", b"small.txt\x00.png"):
        assert tutorial.read_until_close(("127.0.0.1", served.port), name) == b""
    assert SECRET not in tutorial.read_until_close(
        ("127.0.0.1", served.port), b"dir-out/secret.txt"
    )


def test_ip_messenger_file_request_gets_nothing_from_serve(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"1_iptux 0.8.3:5:root:vm:96:6a:0:0")
        assert sock.recv(65536) == b""  # closed, nothing sent: serve offers nothing over IPMSG
    data = tutorial.file_client(("127.0.0.1", served.port), "small.txt")
    assert data == b"hello pigeon\n"  # and the server goes on
