"""The chat's interface: peers in every address form (IPv6 too), ports, and how lines read.

Loopback only (127.0.0.1 and ::1), every chat with ``--no-broadcast`` and explicit peers;
what needs broadcast is in test_chat_netns.py.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import run_pigeon, udp_receiver


def _sent(result_stdout: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in result_stdout.splitlines()]


@pytest.mark.parametrize("form", ["[::1]:{port}", "127.0.0.1:{port}", "localhost:{port}"])
def test_send_reaches_a_chat_in_every_address_form(form: str) -> None:
    pb = udp_port()
    with chat_peer(pb, "bob") as bob:
        result = run_pigeon(
            ["send", "--no-broadcast", "--port", "0", "--json", form.format(port=pb), form]
        )
        assert result.returncode == 0, result.stderr
        assert [e["type"] for e in _sent(result.stdout)] == ["sent", "delivered"]
        [msg] = wait_events(bob, of_type("message", text=form))
        # IPv4 reaches the dual-stack socket mapped (::ffff:127.0.0.1) and is shown as IPv4
        ip = "[::1]" if form.startswith("[") else "127.0.0.1"
        assert str(msg["from"]).startswith(f"{ip}:"), msg


def test_two_chats_over_ipv6_both_ways_with_acks() -> None:
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pb, "bob", [f"[::1]:{pa}"]) as bob,
        chat_peer(pa, "alice", [f"[::1]:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, "hello over v6")
        say(bob, "and back")
        [got_b] = wait_events(bob, of_type("message", name="alice"))
        [got_a] = wait_events(alice, of_type("message", name="bob"))
        assert got_b["text"] == "hello over v6" and got_b["from"] == f"[::1]:{pa}"
        assert got_a["text"] == "and back" and got_a["from"] == f"[::1]:{pb}"
        wait_events(alice, of_type("delivered", id=1, to=f"[::1]:{pb}"))
        wait_events(bob, of_type("delivered", id=1, to=f"[::1]:{pa}"))
        say(alice, "/peers")
        [table] = wait_events(alice, of_type("peers"))
        listed = table["peers"]
        assert isinstance(listed, list)
        assert [p["address"] for p in listed] == [f"[::1]:{pb}"]


def test_to_and_msg_take_ipv6_forms_in_the_chat() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob") as bob, chat_peer(pa, "alice") as alice:
        say(alice, f"/to [::1]:{pb}", "first", f"/msg [::1]:{pb} second")
        got = wait_events(bob, of_type("message", name="alice"), count=2)
        assert [e["text"] for e in got] == ["first", "second"]
        assert {e["from"] for e in got} == {f"[::1]:{pa}"}
        wait_events(alice, of_type("delivered"), count=2)


def test_a_bare_ipv6_peer_is_reached_on_port_2425_not_on_our_port() -> None:
    catcher = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        catcher.bind(("::1", 2425))
    except OSError:
        catcher.close()
        pytest.skip("port 2425 on ::1 is taken here")
    catcher.settimeout(10)
    with catcher:
        result = run_pigeon(
            [
                "send",
                "--no-broadcast",
                "--port",
                str(udp_port()),
                "::1",
                "bare v6",
                "--timeout",
                ".3",
            ]
        )
        data, _addr = catcher.recvfrom(65536)
    assert result.returncode == 12  # nobody acknowledged: the catcher is no chat
    assert data.split(b":", 5)[5].startswith(b"bare v6")  # an IP Messenger SENDMSG


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
@pytest.mark.parametrize("command", ["chat", "--plain", "send", "peers"])
def test_a_destination_port_out_of_range_or_0_is_exit_3_before_anything_is_sent(
    command: str, port: str
) -> None:
    with udp_receiver("::1") as catcher:
        catcher.settimeout(0.5)
        good, bad = f"[::1]:{catcher.getsockname()[1]}", f"[::1]:{port}"
        local = ["--no-broadcast", "--port", "0"]
        argv = {  # a good peer beside the bad one: it would hear from a chat that started
            "chat": ["chat", *local, good, bad],
            "--plain": ["chat", *local, good, "--plain", bad],
            "send": ["send", *local, bad, "hi"],
            "peers": ["peers", *local, good, bad],
        }[command]
        result = run_pigeon(argv, stdin=b"hi\n")
        assert result.returncode == 3, result.stderr
        [line] = result.stderr.decode().splitlines()
        assert line.startswith("pigeon: ") and "port" in line, line
        assert result.stdout == b""  # no greeting: nothing was bound
        with pytest.raises(TimeoutError):
            catcher.recvfrom(100)


def test_a_chat_bound_to_ipv4_refuses_an_ipv6_peer_in_one_line() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pa, "alice", extra=["--bind", "127.0.0.1"]) as alice:
        say(alice, f"/to [::1]:{pb}")
        [note] = wait_events(
            alice, lambda e: e.get("type") == "notice" and "has no IPv4 address" in str(e["text"])
        )
        assert "\n" not in str(note["text"])
        say(alice, f"/to 127.0.0.1:{pb}")  # IPv4 still works on it
        wait_events(alice, of_type("target"))
    assert not [e for e in events(alice) if "Traceback" in json.dumps(e)]


def test_peers_and_send_leave_no_trace_in_the_chat_they_ask() -> None:
    pb = udp_port()
    with chat_peer(pb, "bob") as bob:
        for target in (f"127.0.0.1:{pb}", f"[::1]:{pb}"):
            result = run_pigeon(
                ["peers", "--no-broadcast", "--port", "0", "--timeout", "0.5", "--json", target]
            )
            assert result.returncode == 0, result.stderr
            [table] = _sent(result.stdout)
            assert [p["name"] for p in table["peers"]] == ["bob"]  # type: ignore[attr-defined]
            result = run_pigeon(["send", "--no-broadcast", "--port", "0", target, "hi"])
            assert result.returncode == 0, result.stderr
        wait_events(bob, of_type("message", text="hi"), count=2)
        assert not [e for e in events(bob) if e["type"] == "peer"]  # no joined, no left
