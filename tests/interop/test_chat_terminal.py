"""The chat screen in a real terminal (tmux): typed text survives incoming messages, a
message takes one line, network errors are said once and never inside the input line.

Loopback with --no-broadcast, except the network-error test, which broadcasts inside
network namespaces of its own (tests/netns.py)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator

from tests.chat_helpers import chat_peer, of_type, udp_port, wait_events
from tests.helpers import PIGEON, Background, require_tool, run_pigeon
from tests.netns import veth_pair


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
            wait_screen(tmux, name, "#1 → bob: half typed 半句 done ✓")
            subprocess.run([tmux, "send-keys", "-t", name, "-l", "/quit"], check=True)
            subprocess.run([tmux, "send-keys", "-t", name, "Enter"], check=True)
            wait_events(bob, of_type("peer", change="left"))


def type_line(tmux: str, name: str, text: str, *, enter: bool = True) -> None:
    subprocess.run([tmux, "send-keys", "-t", name, "-l", text], check=True)
    if enter:
        subprocess.run([tmux, "send-keys", "-t", name, "Enter"], check=True)


def test_a_message_takes_one_line_and_its_mark_joins_it() -> None:
    tmux = require_tool("tmux")
    pa, pb, silent = udp_port(), udp_port(), udp_port()
    name = f"pigeon-test-{pa}"
    with chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob:
        argv = [*PIGEON, "chat", "--no-broadcast", "--port", str(pa), "--name", "alice"]
        argv += ["--retries", "2", "--retry-interval", "0.2", f"127.0.0.1:{pb}"]
        with tmux_session(tmux, name, argv):
            wait_screen(tmux, name, "alice → bob>")
            type_line(tmux, name, "just one line")
            lines = wait_screen(tmux, name, "#1 → bob: just one line ✓")
            wait_events(bob, of_type("message", text="just one line"))
            # the typed line is not left above it, and the mark took no line of its own
            assert len([line for line in lines if "just one line" in line]) == 1, lines
            assert not [line for line in lines if "delivered" in line], lines
            # a message too long for one row of the 120: its mark is a short line
            type_line(tmux, name, "长" * 70)
            wait_screen(tmux, name, "✓ #2 delivered to bob")
            # an unacknowledged message says so on its line too
            type_line(tmux, name, f"/msg 127.0.0.1:{silent} anyone?")
            lines = wait_screen(tmux, name, "anyone? ✗ NOT delivered")
            assert len([line for line in lines if "anyone?" in line]) == 1, lines
            assert lines[-1].endswith("alice → bob>"), lines
            type_line(tmux, name, "/nick 爱丽丝")  # the prompt follows the new name
            wait_screen(tmux, name, "爱丽丝 → bob>")


def test_network_errors_are_said_once_and_never_inside_the_input_line() -> None:
    """A LAN without a default route: every send to 255.255.255.255 fails (ENETUNREACH),
    while the LAN's own broadcast address works. Broadcasts happen only inside namespaces."""
    tmux = require_tool("tmux")
    with veth_pair("u") as pair:
        subprocess.run(
            ["ip", "-n", pair.ns_a, "route", "del", "255.255.255.255/32"],
            check=True,
            capture_output=True,
        )
        bob = Background(
            pair.run_in(pair.ns_b, [*PIGEON, "chat", "--json", "--name", "bob"]), stdin=True
        )
        try:
            wait_events(bob, of_type("notice", discovery=True))
            name = f"pigeon-test-{pair.ns_a}"
            with tmux_session(
                tmux, name, pair.run_in(pair.ns_a, [*PIGEON, "chat", "--name", "al"])
            ):
                wait_screen(tmux, name, "bob joined")
                for line in ("/all one", "/nick zed", "/all two"):
                    type_line(tmux, name, line)
                wait_events(bob, of_type("message", broadcast=True), count=2)
                type_line(tmux, name, "typing", enter=False)
                lines = wait_screen(tmux, name, "typing")
                said = [line for line in lines if "network unreachable" in line]
                assert len(said) == 1, lines  # once, not per broadcast
                assert said[0].startswith("chat: udp 255.255.255.255:2425: network unreachable")
                assert lines[-1].endswith("> typing"), lines  # the input line holds only input
                type_line(tmux, name, "", enter=True)
                type_line(tmux, name, "/quit")
                wait_events(bob, of_type("peer", change="left"))
            # piped, the same: one line for the state, however many broadcasts
            piped = subprocess.run(
                pair.run_in(pair.ns_a, [*PIGEON, "chat", "--json", "--name", "al"]),
                input=b"/all three\n/nick zed\n/all four\n",
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert piped.returncode == 0, piped.stderr
            notes = [
                json.loads(line)["text"]
                for line in piped.stdout.splitlines()
                if b"network unreachable" in line
            ]
            assert len(notes) == 1, piped.stdout
            wait_events(bob, of_type("message", broadcast=True), count=4)
        finally:
            bob.stop()
