"""The chat screen in a real terminal (tmux): typed text survives incoming messages."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

from tests.chat_helpers import chat_peer, of_type, udp_port, wait_events
from tests.helpers import PIGEON, require_tool, run_pigeon


@contextlib.contextmanager
def tmux_session(tmux: str, name: str, command: list[str]) -> Iterator[None]:
    subprocess.run(
        [tmux, "new-session", "-d", "-s", name, "-x", "120", "-y", "30", " ".join(command)],
        check=True,
    )
    try:
        yield
    finally:
        subprocess.run([tmux, "kill-session", "-t", name], check=False, capture_output=True)


def screen(tmux: str, name: str) -> list[str]:
    shown = subprocess.run(
        [tmux, "capture-pane", "-p", "-t", name], check=True, capture_output=True, text=True
    ).stdout
    return [line.rstrip() for line in shown.splitlines() if line.strip()]


def wait_screen(tmux: str, name: str, needle: str, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = screen(tmux, name)
        if any(needle in line for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never shown; screen:\n" + "\n".join(lines))


def test_typing_is_not_clobbered_by_incoming_messages() -> None:
    tmux = require_tool("tmux")
    pa, pb = udp_port(), udp_port()
    name = f"pigeon-test-{pa}"
    with chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob:
        argv = [
            *PIGEON,
            "chat",
            "--no-broadcast",
            "--port",
            str(pa),
            "--name",
            "alice",
            f"127.0.0.1:{pb}",
        ]
        with tmux_session(tmux, name, argv):
            wait_screen(tmux, name, "alice → bob>")
            subprocess.run([tmux, "send-keys", "-t", name, "-l", "half typed 半句"], check=True)
            wait_screen(tmux, name, "half typed 半句")
            for i in range(3):
                result = run_pigeon(
                    ["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{pa}", f"incoming {i}"]
                )
                assert result.returncode == 0, result.stderr
            lines = wait_screen(tmux, name, "incoming 2")
            # the screen may be captured between a message line and the input line's redraw
            # (the next frame): give the redraw a moment before judging the screen
            deadline = time.monotonic() + 5
            while not lines[-1].endswith("half typed 半句") and time.monotonic() < deadline:
                time.sleep(0.05)
                lines = screen(tmux, name)
            # the messages are above; the input line is last and still holds the typing
            assert lines[-1].endswith("alice → bob> half typed 半句"), lines
            assert [i for i, line in enumerate(lines) if "incoming" in line] == sorted(
                i for i, line in enumerate(lines) if "incoming" in line
            )
            assert all("half typed" not in line for line in lines[:-1])
            subprocess.run([tmux, "send-keys", "-t", name, "-l", " done"], check=True)
            subprocess.run([tmux, "send-keys", "-t", name, "Enter"], check=True)
            [msg] = wait_events(bob, of_type("message", name="alice"))
            assert msg["text"] == "half typed 半句 done"
            wait_screen(tmux, name, "delivered to bob")
            subprocess.run([tmux, "send-keys", "-t", name, "-l", "/quit"], check=True)
            subprocess.run([tmux, "send-keys", "-t", name, "Enter"], check=True)
            wait_events(bob, of_type("peer", change="left"))
