"""Running ``pigeon chat`` peers on loopback for tests: JSON events, explicit peers, no broadcast.

In the default network namespace every chat process gets ``--no-broadcast``: nothing may
leave this machine. Tests that broadcast run inside namespaces of their own (tests/netns.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator, Sequence

from tests.helpers import PIGEON, Background, free_port

Event = dict[str, object]


def events(proc: Background) -> list[Event]:
    """Every complete JSON line the process printed on stdout so far."""
    found = []
    for line in proc.out.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def wait_events(
    proc: Background,
    accept: Callable[[Event], bool],
    *,
    count: int = 1,
    timeout: float = 15.0,
) -> list[Event]:
    """Wait until ``count`` events pass ``accept``; fail with the whole output if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matched = [e for e in events(proc) if accept(e)]
        if len(matched) >= count:
            return matched
        if proc.proc.poll() is not None:
            break
        time.sleep(0.02)
    matched = [e for e in events(proc) if accept(e)]
    if len(matched) >= count:
        return matched
    raise AssertionError(
        f"wanted {count} matching events, saw {len(matched)} (exit {proc.proc.poll()}):\n"
        f"stdout={proc.out.decode(errors='replace')}\nstderr={proc.err.decode(errors='replace')}"
    )


def of_type(kind: str, **fields: object) -> Callable[[Event], bool]:
    """An ``accept`` function: events of ``type`` kind whose fields equal ``fields``."""
    return lambda e: e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())


def udp_port() -> int:
    """A free UDP port on 127.0.0.1."""
    return free_port(socket.SOCK_DGRAM)


def chat_argv(
    port: int, name: str, peers: Sequence[str] = (), extra: Sequence[str] = ()
) -> list[str]:
    """The command line of a loopback chat peer (never broadcasts)."""
    return [
        *PIGEON,
        "chat",
        "--no-broadcast",
        "--json",
        "--port",
        str(port),
        "--name",
        name,
        *extra,
        *peers,
    ]


@contextlib.contextmanager
def chat_peer(
    port: int, name: str, peers: Sequence[str] = (), extra: Sequence[str] = ()
) -> Iterator[Background]:
    """A running chat peer (stdin is a pipe: write lines to it), stopped afterwards."""
    proc = Background(chat_argv(port, name, peers, extra), stdin=True)
    try:
        wait_events(proc, of_type("notice", port=port))
        yield proc
    finally:
        proc.stop()


def say(proc: Background, *lines: str) -> None:
    """Type ``lines`` into a chat peer's standard input."""
    proc.send_stdin("".join(line + "\n" for line in lines).encode())
