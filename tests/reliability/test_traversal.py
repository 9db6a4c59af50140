"""A corpus of hostile paths against HTTP and the legacy protocol: nothing outside the root.

Every request is checked for the secret's bytes, for a 5xx, and the server must still serve a
normal file afterwards. The corpus is generated from escape techniques x targets x encodings.
"""

from __future__ import annotations

import itertools
import socket

import pytest

from tests.interop.serve_fixtures import SECRET, Served
from tests.tutorial_peers import read_until_close

TARGETS = ["outside/secret.txt", "etc/passwd", "proc/self/environ", "share/../outside/secret.txt"]
UPS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "..%c0%af",
    "%c0%ae%c0%ae",
    "..\\",
    "..%5c",
    "..%255c",
    "\u2025",
    "\uff0e\uff0e",
    "..;",
    "....",
]
SEPARATORS = ["/", "%2f", "%2F", "\\", "%5c", "//", "/./"]


def http_corpus() -> list[bytes]:
    paths: set[str] = set()
    for up, sep, target in itertools.product(UPS, SEPARATORS, TARGETS[:2]):
        paths.add("/" + sep.join([up] * 3) + sep + target.replace("/", sep))
    paths.update(
        [
            "/%2fetc%2fpasswd",
            "//etc/passwd",
            "/etc/passwd%00.txt",
            "/small.txt%00../../x",
            "/link-out",
            "/dir-out/secret.txt",
            "/dir-out/",
            "/fifo",
            "/chardev",
            "/.hidden",
            "/%2ehidden",
            "/sub/../../outside/secret.txt",
            "/sub/%2e%2e/%2e%2e/outside/secret.txt",
            "/C:/Windows/win.ini",
            "/c:%5cwindows",
            "/" + "a/" * 2000,
            "/" + "x" * 300,
            "/sub/\u202e/..",
            "/%ff%fe",
            "/%",
            "/%zz",
            "/?../../etc/passwd",
            "/..%00/outside/secret.txt",
            "/\x7f",
            "/.%2e/outside/secret.txt",
        ]
    )
    return sorted(p.encode("utf-8", "surrogateescape") for p in paths)


def legacy_corpus() -> list[bytes]:
    names: set[bytes] = set()
    for up, target in itertools.product(["..", "../..", "../../..", "./..", "sub/../.."], TARGETS):
        names.add(f"{up}/{target}".encode())
    names.update(
        [
            b"/etc/passwd",
            b"~/.ssh/id_rsa",
            b"..\\outside\\secret.txt",
            b"link-out",
            b"dir-out/secret.txt",
            b"fifo",
            b"chardev",
            b".hidden",
            b"\x00",
            b"small.txt\x00",
            b"C:\\x",
            b"%2e%2e/outside/secret.txt",
            b"\xc0\xae\xc0\xae/outside",
            b"a" * 2000,
            b"sub",
            "\uff0e\uff0e/outside/secret.txt".encode(),
            b"/proc/self/environ",
        ]
    )
    return sorted(names)


def http_get(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_corpus_is_large_enough() -> None:
    assert len(http_corpus()) + len(legacy_corpus()) >= 200


def test_http_corpus_never_escapes(served: Served) -> None:
    statuses: dict[int, int] = {}
    for target in http_corpus():
        if b" " in target or b"\r" in target or b"\n" in target:
            continue
        response = http_get(served.port, target)
        assert SECRET not in response, target
        assert b"root:x:0:0" not in response, target
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
        statuses[status] = statuses.get(status, 0) + 1
        if target.startswith(b"/?"):  # a query never names a path: this is the root listing
            assert status == 200 and b"<title>pigeon: /</title>" in response
            continue
        assert status in (400, 403, 404, 414, 431), (target, response[:80])
    assert sum(statuses.values()) >= 150
    assert http_get(served.port, b"/small.txt").endswith(b"hello pigeon\n")


def test_legacy_corpus_gets_nothing(served: Served) -> None:
    for name in legacy_corpus():
        assert read_until_close(("127.0.0.1", served.port), name) == b"", name
    assert read_until_close(("127.0.0.1", served.port), b"small.txt") == b"hello pigeon\n"


@pytest.mark.parametrize("name", ["link-in"])
def test_symlink_inside_the_root_is_served(served: Served, name: str) -> None:
    assert http_get(served.port, f"/{name}".encode()).endswith(b"hello pigeon\n")
