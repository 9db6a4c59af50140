"""Running a real pigeon with some of its standard streams on a pseudo-terminal.

``on_pty`` gives the child a pty for the streams named and pipes for the others, writes the
answers to the terminal as input, and collects everything the terminal showed until the
child exits (the line discipline's echo of the input included).
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.helpers import PIGEON


@dataclass
class PtyRun:
    """What a run showed on its terminal and wrote to the piped streams."""

    returncode: int
    terminal: bytes
    stdout: bytes
    stderr: bytes


def on_pty(
    args: Sequence[str],
    *,
    streams: frozenset[str] = frozenset({"stdin", "stdout", "stderr"}),
    typed: bytes = b"",
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> PtyRun:
    """Run pigeon with ``streams`` on one pty (the rest piped; stdin empty if piped)."""
    main_fd, sub_fd = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        [*PIGEON, *args],
        stdin=sub_fd if "stdin" in streams else subprocess.DEVNULL,
        stdout=sub_fd if "stdout" in streams else pipe,
        stderr=sub_fd if "stderr" in streams else pipe,
        cwd=cwd,
        env=env,
    )
    # the parent keeps its copy of the terminal's child side open until the child is gone:
    # closing it early makes Linux answer EIO to reads while output may still be in flight
    if typed:
        os.write(main_fd, typed)
    shown = bytearray()
    piped = {name: bytearray() for name in ("stdout", "stderr") if name not in streams}
    pumps = [
        threading.Thread(target=_pump, args=(getattr(proc, name), sink), daemon=True)
        for name, sink in piped.items()
    ]
    for pump in pumps:
        pump.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            exited = proc.poll() is not None
            if select.select([main_fd], [], [], 0.1 if not exited else 0.3)[0]:
                shown += os.read(main_fd, 65536)
            elif exited:
                break  # gone, and its last words read
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        for pump in pumps:
            pump.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(sub_fd)
        os.close(main_fd)
    out, err = (bytes(piped.get(name, b"")) for name in ("stdout", "stderr"))
    return PtyRun(proc.returncode, bytes(shown), out, err)


def _pump(stream: IO[bytes] | None, sink: bytearray) -> None:
    assert isinstance(stream, io.BufferedReader)
    while chunk := stream.read1(65536):
        sink.extend(chunk)
    stream.close()
