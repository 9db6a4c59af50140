"""The benchmark harness's plumbing: results, tools, servers under test, RSS and CPU sampling.

Nothing here installs anything; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PIGEON = [sys.executable, "-m", "pigeon"]

INSTALL_HINTS = {
    "nginx": "apt-get install nginx-light",
    "wrk": "apt-get install wrk",
    "nc": "apt-get install netcat-openbsd",
    "curl": "apt-get install curl",
    "wget": "apt-get install wget",
    "iperf3": "apt-get install iperf3",
}


@dataclass
class Measure:
    """Repeated measurements of one subject in one scenario (higher or lower is better)."""

    scenario: str
    subject: str
    unit: str
    values: list[float]
    higher_is_better: bool = True
    extra: dict[str, float | int | str] = field(default_factory=dict)
    command: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")


@dataclass
class Target:
    """A published goal: ``subject`` against ``baseline`` (a ratio) or an absolute bound."""

    scenario: str
    text: str
    value: float | None
    goal: float
    met: bool | None
    why: str = ""


def tools() -> dict[str, str | None]:
    """Which comparison tools are installed (path or None)."""
    return {name: shutil.which(name) for name in INSTALL_HINTS}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Server:
    """A server under test: its port and the processes whose RSS and CPU count."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    command: str

    def processes(self) -> list[psutil.Process]:
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def pigeon_serve(root: Path) -> Iterator[Server]:
    port = free_port()
    argv = [*PIGEON, "serve", str(root), "--port", str(port), "--bind", "127.0.0.1", "--quiet"]
    argv += ["--max-connections", "5000", "--no-digest-cache"]  # digests in memory: no state
    # carried from one bench run to the next
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield Server("pigeon serve", port, proc, " ".join(["pigeon", *argv[3:]]))
    finally:
        _stop(proc)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root};
  }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path) -> Iterator[Server]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="pigeon-bench-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=tmp, port=port, root=root))
        argv = ["nginx", "-c", str(conf), "-p", tmp]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            yield Server("nginx", port, proc, "nginx (1 worker, sendfile on, tcp_nopush on)")
        finally:
            _stop(proc)


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield Server("python -m http.server", port, proc, "python -m http.server PORT")
    finally:
        _stop(proc)


class PeakRss:
    """Samples a process tree's RSS every 10 ms in a thread; ``peak`` in bytes."""

    def __init__(self, sample: Callable[[], int]) -> None:
        self._sample = sample
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._sample())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its children."""
    try:
        top = psutil.Process(pid)
        procs = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def run_measured(argv: list[str], **popen: object) -> tuple[float, int, int]:
    """Run ``argv`` to the end: (wall seconds, peak RSS bytes, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, **popen)  # type: ignore[call-overload]
    with PeakRss(lambda: tree_rss(proc.pid)) as peak:
        code = proc.wait()
    return time.perf_counter() - start, peak.peak, int(code)


def make_file(path: Path, size: int, *, sparse: bool = False) -> None:
    """A file of ``size`` bytes (random-ish content, or a hole), read once into page cache."""
    if path.exists() and path.stat().st_size == size:
        return
    with path.open("wb") as out:
        if sparse:
            out.truncate(size)
            return
        block = os.urandom(1 << 20)
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
        # Written back now, not 30 s later (vm.dirty_expire_centisecs) in the middle of the
        # measurements: the writeback's CPU had cost the busiest client ~15% of its rate.
        out.flush()
        os.fsync(out.fileno())


def warm(path: Path) -> None:
    """Read ``path`` once so it is in the page cache."""
    with path.open("rb") as src:
        while src.read(1 << 24):
            pass
