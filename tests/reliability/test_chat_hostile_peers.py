"""Hostile peers at pigeon chat, each attack against real chat processes on loopback: escape
codes in every line that names a peer, floods from many ports of one address, a crowd of
connections on the attachment port under a low file-descriptor limit, and impossible file
times in offers and folder streams."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chat_helpers import chat_argv, chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import Background, require_tool


@contextlib.contextmanager
def limited_chat(port: int, name: str, peers: list[str], nofile: int) -> Iterator[Background]:
    """A chat peer (``--json``) started under ``prlimit --nofile``."""
    prlimit = require_tool("prlimit")
    proc = Background([prlimit, f"--nofile={nofile}", *chat_argv(port, name, peers)], stdin=True)
    try:
        wait_events(proc, of_type("notice", port=port))
        yield proc
    finally:
        proc.stop()


# --- the attachment port: a crowd of connections under a low descriptor limit ---------------


@pytest.mark.parametrize(
    ("nofile", "line"),
    [
        (256, "connections at once is the limit"),  # the chat's own limit comes first
        (40, "out of file descriptors"),  # below it, accept's back-off (as pigeon serve)
    ],
)
def test_a_crowd_on_the_attachment_port_is_one_line_and_the_chat_goes_on(
    tmp_path: Path, nofile: int, line: str
) -> None:
    shared = tmp_path / "shared.txt"
    shared.write_bytes(b"still served\n" * 1000)
    dest = tmp_path / "in"
    pv, pf = udp_port(), udp_port()
    with (
        limited_chat(pv, "victim", [f"127.0.0.1:{pf}"], nofile) as victim,
        chat_peer(pf, "friend", [f"127.0.0.1:{pv}"]) as friend,
    ):
        wait_events(victim, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "friend")  # type: ignore[index]
        crowd = []
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", pv))
            crowd.append(sock)
        time.sleep(2.5)  # accepting (and failing to, below the limit) goes on meanwhile
        for sock in crowd:
            sock.close()
        freed = time.monotonic()
        say(friend, "a message after the crowd")
        wait_events(victim, of_type("message", text="a message after the crowd"))
        say(victim, f"/send {shared}")
        [offer] = wait_events(friend, of_type("offer", incoming=True))
        say(friend, f"/get {offer['index']} {dest}")
        wait_events(friend, of_type("transfer", state="received"), timeout=30)
        served_ms = (time.monotonic() - freed) * 1000
        assert victim.proc.poll() is None
    assert (dest / "shared.txt").read_bytes() == shared.read_bytes()
    said = [e for e in events(victim) if line in str(e.get("detail", e.get("text", "")))]
    assert len(said) == 1, victim.out.decode(errors="replace")[-3000:]
    err = victim.err.decode(errors="replace")
    assert "Traceback" not in err and "Too many open files" not in err, err[-3000:]
    print(f"nofile={nofile}: 300 connections, 1 line, served again after {served_ms:.0f} ms")
