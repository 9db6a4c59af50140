"""A corpus of hostile paths against HTTP and the legacy protocol: nothing outside the root.

Every request is checked for the secret's bytes, for a 5xx, and the server must still serve a
normal file afterwards. The corpus is generated from escape techniques x targets x encodings.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time

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
    "\u2024\u2024",  # one dot leader, twice
    "\ufe52\ufe52",  # small full stop
    "%ef%bc%8e%ef%bc%8e",  # fullwidth full stops, percent-encoded
    "%e0%80%ae%e0%80%ae",  # overlong UTF-8 dots
    "%u002e%u002e",  # IIS-style escapes
    ".\u0307.",  # a combining dot between the dots (NFC/NFKC games)
]
SEPARATORS = ["/", "%2f", "%2F", "\\", "%5c", "//", "/./"]


def http_corpus() -> list[bytes]:
    paths: set[str] = set()
    for up, sep, target in itertools.product(UPS, SEPARATORS, TARGETS):
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
            "\u2024\u2024/outside/secret.txt".encode(),
            "\ufe52\ufe52/outside/secret.txt".encode(),
            ".\u0307./outside/secret.txt".encode(),
            b"..%2foutside%2fsecret.txt",
            b"..\\..\\outside\\secret.txt",
            b"....//outside/secret.txt",
            b"sub/../../outside/secret.txt\n",
            b"outside/secret.txt",
            b"../outside/./secret.txt",
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
    assert len(http_corpus()) + len(legacy_corpus()) >= 500


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
    assert sum(statuses.values()) >= 450
    assert http_get(served.port, b"/small.txt").endswith(b"hello pigeon\n")


def test_legacy_corpus_gets_nothing(served: Served) -> None:
    for name in legacy_corpus():
        assert read_until_close(("127.0.0.1", served.port), name) == b"", name
    assert read_until_close(("127.0.0.1", served.port), b"small.txt") == b"hello pigeon\n"


@pytest.mark.parametrize("name", ["link-in"])
def test_symlink_inside_the_root_is_served(served: Served, name: str) -> None:
    assert http_get(served.port, f"/{name}".encode()).endswith(b"hello pigeon\n")


def test_symlink_swapped_in_while_requests_are_in_flight(served: Served) -> None:
    """A name flips between a file inside and a link to the secret outside, as fast as the
        filesystem allows, while HTTP and legacy clients keep asking for it (at least 300 times, and
    until both states were met): never one byte of
        the secret, never a 5xx, and the server keeps serving."""
    root = served.root
    inside = root / "race-inside.txt"
    inside.write_bytes(b"inside\n")
    secret = root.parent / "outside" / "secret.txt"
    assert secret.read_bytes().startswith(SECRET)
    stop = threading.Event()
    flips = 0

    def flipper() -> None:
        nonlocal flips
        link_tmp, file_tmp, race = root / ".race-link", root / ".race-file", root / "race"
        while not stop.is_set():
            with contextlib.suppress(FileExistsError, FileNotFoundError):
                link_tmp.unlink(missing_ok=True)
                link_tmp.symlink_to(secret)
                link_tmp.replace(race)  # atomic: now a link pointing outside
                time.sleep(0.0005)  # let each state last long enough to be asked for
                file_tmp.unlink(missing_ok=True)
                os.link(inside, file_tmp)
                file_tmp.replace(race)  # atomic: now the file inside
                time.sleep(0.0005)
                flips += 2

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    seen = {"inside": 0, "refused": 0}
    try:
        for i in range(3000):
            if i >= 300 and seen["inside"] and seen["refused"]:
                break
            if i % 2:
                body = read_until_close(("127.0.0.1", served.port), b"race\n")  # no pause
                refused = body == b""
            else:
                body = http_get(served.port, b"/race")
                status = int(body.split(b" ", 2)[1])
                assert status in (200, 403, 404), body[:80]
                refused = status != 200
            assert SECRET not in body
            seen["refused" if refused else "inside"] += 1
    finally:
        stop.set()
        thread.join(timeout=5)
    assert flips > 100 and seen["inside"] > 0 and seen["refused"] > 0, (flips, seen)
    assert http_get(served.port, b"/small.txt").endswith(b"hello pigeon\n")
