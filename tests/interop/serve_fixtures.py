"""A shared folder with interesting files, a secret outside it, and a running pigeon serve."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import Background, free_port, pigeon_server

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT-7c1f"


@dataclass
class Served:
    """A running ``pigeon serve`` and the folder it shares."""

    root: Path
    outside: Path
    port: int
    proc: Background

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_tree(base: Path) -> tuple[Path, Path]:
    """Create ``base/share`` (served) and ``base/outside`` (must never be served)."""
    root = base / "share"
    outside = base / "outside"
    (root / "sub" / "深").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "empty.bin").write_bytes(b"")
    (root / "one.bin").write_bytes(b"\x7f")
    (root / "small.txt").write_bytes(b"hello pigeon\n")
    (root / "mib.bin").write_bytes(os.urandom(1 << 20))
    (root / "name with spaces 中文.txt").write_bytes("空格和中文\n".encode())
    (root / "sub" / "深" / "nested.txt").write_bytes(b"nested\n")
    (root / ".hidden").write_bytes(b"dot file\n")
    (root / "link-out").symlink_to(outside / "secret.txt")
    (root / "link-in").symlink_to(root / "small.txt")
    (root / "dir-out").symlink_to(outside)
    os.mkfifo(root / "fifo")
    if os.geteuid() == 0:  # a character device (like /dev/null) must never be opened
        os.mknod(root / "chardev", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return root, outside


def serve(root: Path, outside: Path, *extra: str) -> Iterator[Served]:
    port = free_port(socket.SOCK_STREAM)
    with pigeon_server(["serve", str(root), "--port", str(port), *extra]) as proc:
        yield Served(root, outside, port, proc)


@contextlib.contextmanager
def nginx_serving(root: Path, tmp: Path, *, extra: str = "") -> Iterator[int]:
    """nginx serving ``root`` on a free loopback port (its files and pid in ``tmp``);
    ``extra`` goes into the server block (``autoindex on;``). Yields the port."""
    from tests.helpers import background, require_tool, wait_bound

    nginx = require_tool("nginx")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        "user root; worker_processes 1; daemon off;\n"
        f"pid {tmp}/nginx.pid; error_log stderr;\n"
        "events {}\nhttp { access_log off; sendfile on;\n"
        f"  client_body_temp_path {tmp}; proxy_temp_path {tmp};\n"
        f"  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
        f"  server {{ listen 127.0.0.1:{port}; root {root}; {extra} }} }}\n"
    )
    with background([nginx, "-c", str(conf), "-e", "stderr"]):
        wait_bound(port, socket.SOCK_STREAM)
        yield port
