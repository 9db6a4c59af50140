"""Test helpers: free ports, real pigeon processes, required third-party tools.

Every helper talks to real sockets on loopback; nothing here fakes the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PIGEON = [sys.executable, "-m", "pigeon"]


def require_tool(name: str) -> str:
    """Path of a system tool; fails the test in CI (never a silent skip), skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/install-tools installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_root() -> None:
    """Fail in CI (it runs as root), skip elsewhere, when not root."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("this test needs root, and CI runs as root")
        pytest.skip("needs root")


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for both TCP and UDP when possible)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, kind) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(family, other) as check:
            try:
                check.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def wait_bound(port: int, kind: socket.SocketKind, host: str = "127.0.0.1") -> None:
    """Wait until some other process has bound ``host``:``port`` (a peer such as nc is ready)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket(family, kind) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing bound {host}:{port} within 10s")


def run_pigeon(
    args: Sequence[str],
    *,
    stdin: bytes | None = None,
    timeout: float = 20.0,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run pigeon to completion and return what it printed."""
    return subprocess.run(
        [*prefix, *PIGEON, *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )


class Background:
    """A running process whose output is collected by threads (no pipe can fill up)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stdin: bool = False,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self._out = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: object, sink: bytearray) -> None:
        assert hasattr(stream, "read1")
        while chunk := stream.read1(65536):
            with self._lock:
                sink.extend(chunk)

    @property
    def out(self) -> bytes:
        with self._lock:
            return bytes(self._out)

    @property
    def err(self) -> bytes:
        with self._lock:
            return bytes(self._err)

    def wait_for(self, needle: bytes, *, stream: str = "any", timeout: float = 10.0) -> None:
        """Wait until ``needle`` appears on stdout or stderr; fail with both if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            haystack = {"out": self.out, "err": self.err, "any": self.out + self.err}[stream]
            if needle in haystack:
                return
            if self.proc.poll() is not None:
                time.sleep(0.05)
                break
            time.sleep(0.02)
        haystack = {"out": self.out, "err": self.err, "any": self.out + self.err}[stream]
        if needle in haystack:
            return
        raise AssertionError(
            f"{needle!r} not seen from {self.argv} (exit {self.proc.poll()}):\n"
            f"stdout={self.out!r}\nstderr={self.err!r}"
        )

    def send_stdin(self, data: bytes, *, close: bool = False) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def finish(self, timeout: float = 10.0) -> int:
        """Wait for the process to end by itself; returns its exit code."""
        code = self.proc.wait(timeout=timeout)
        self._close()
        return code

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """End the process (if still running) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()
        return int(self.proc.returncode)


@contextlib.contextmanager
def background(argv: Sequence[str], *, stdin: bool = False) -> Iterator[Background]:
    """Run ``argv`` for the duration of a ``with`` block; always stopped afterwards."""
    proc = Background(argv, stdin=stdin)
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def pigeon_server(args: Sequence[str], *, ready: bytes = b"listening") -> Iterator[Background]:
    """Start a pigeon server and wait until it says it is listening."""
    with background([*PIGEON, *args]) as proc:
        proc.wait_for(ready)
        yield proc


def json_lines(data: bytes) -> list[dict[str, object]]:
    """Parse JSON-lines output."""
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def one_line_error(result: subprocess.CompletedProcess[bytes], *, skip: str = "") -> str:
    """The single stderr line of a failed run, checked to be one line and no traceback.

    Lines starting with ``skip`` (progress such as ``sent ...``) are not counted.
    """
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not (skip and ln.startswith(skip))]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert lines[0].startswith("pigeon"), lines[0]
    return lines[0]


def udp_receiver(host: str = "127.0.0.1") -> socket.socket:
    """A bound UDP socket with a timeout, for tests that check what arrived."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(5)
    return sock


def source_root() -> Path:
    """The checkout's top folder."""
    return Path(__file__).resolve().parent.parent


AS_AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'pigeon', *sys.argv[1:]])",
]
"""``python -m pigeon`` with SIGINT as at a terminal: a test run in the background starts
its children with SIGINT ignored, and a Ctrl-C test must be able to send it."""
