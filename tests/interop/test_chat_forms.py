"""The chat's interface: peers in every address form (IPv6 too), ports, and how lines read.

Loopback only (127.0.0.1 and ::1), every chat with ``--no-broadcast`` and explicit peers;
what needs broadcast is in test_chat_netns.py.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from pigeon.ui.chat_lines import cells
from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import (
    AS_AT_A_TERMINAL,
    background,
    require_tool,
    run_pigeon,
    udp_receiver,
)


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


@pytest.mark.parametrize("command", ["send", "chat", "peers"])
def test_a_peer_without_a_port_is_reached_on_2425_not_on_our_port(command: str) -> None:
    catcher = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        catcher.bind(("::1", 2425))
    except OSError:
        catcher.close()
        pytest.skip("port 2425 on ::1 is taken here")
    catcher.settimeout(10)
    ours = ["--no-broadcast", "--port", str(udp_port())]
    argv = {
        "send": ["send", *ours, "::1", "bare v6", "--timeout", ".3"],
        "chat": ["chat", *ours, "::1"],
        "peers": ["peers", *ours, "--timeout", ".3", "::1"],
    }[command]
    with catcher:
        result = run_pigeon(argv, stdin=b"")
        data, _addr = catcher.recvfrom(65536)
        if command == "send":  # its entry came first (who it is), then the message
            assert int(data.split(b":", 5)[4]) & 0xFF == 0x01, data
            data, _addr = catcher.recvfrom(65536)
    # send: nobody acknowledged (the catcher is no chat); chat and peers end normally
    assert result.returncode == (12 if command == "send" else 0), result.stderr
    wanted = {"send": 0x20, "chat": 0x01, "peers": 0x01}[command]  # SENDMSG, BR_ENTRY
    assert int(data.split(b":", 5)[4]) & 0xFF == wanted, data


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
        # nor is a one-shot, gone once acknowledged, made the one bob's replies go to
        assert not [e for e in events(bob) if e["type"] == "target"]


def test_piped_output_keeps_one_event_per_line() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob"):
        result = run_pigeon(
            ["chat", "--no-broadcast", "--port", str(pa), f"127.0.0.1:{pb}"], stdin=b"hello\n"
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    # (the message may leave before bob's answer names it: then it names the address)
    assert len([x for x in lines if "  #1 → " in x and x.endswith(": hello …")]) == 1, lines
    assert len([x for x in lines if x.endswith("✓ #1 delivered to bob")]) == 1, lines


@pytest.mark.parametrize(
    ("line", "code", "said"),
    [
        ("/nonsense", 2, "unknown command /nonsense"),
        ("x" * 9000, 10, "at most 8,192"),
        ("/to nobody-such", 2, "no peer called 'nobody-such'"),
        ("/to [::1]:0", 3, "port 0 cannot be reached"),
        ("/all", 2, "usage: /all TEXT"),
    ],
)
def test_a_refused_line_in_piped_mode_is_a_nonzero_exit(line: str, code: int, said: str) -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob") as bob:
        result = run_pigeon(
            ["chat", "--no-broadcast", "--port", str(pa), f"127.0.0.1:{pb}"],
            stdin=f"{line}\nstill sent\n".encode(),
        )
        wait_events(bob, of_type("message", text="still sent"))  # the chat went on
    assert result.returncode == code, (result.stdout, result.stderr)
    assert len([x for x in result.stderr.decode().splitlines() if said in x]) == 1
    assert "Traceback" not in result.stderr.decode()
    assert b"delivered to bob" in result.stdout


def test_piped_lines_all_accepted_exit_0() -> None:
    """The form that worked: nothing refused, everything delivered, exit 0."""
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob"):
        result = run_pigeon(
            ["chat", "--no-broadcast", "--port", str(pa), f"127.0.0.1:{pb}"],
            stdin=b"/peers\n/help\nfine\n",
        )
    assert result.returncode == 0, result.stderr


def test_plain_lines_end_with_a_newline_on_an_nc_screen() -> None:
    nc = require_tool("nc")
    nc_port, ours = udp_port(), udp_port()
    with background([nc, "-u", "-l", "127.0.0.1", str(nc_port)]) as listener:
        time.sleep(0.3)  # nc binds as it starts
        result = run_pigeon(  # nc -u -l hears only its first sender's address: one port
            ["chat", "--no-broadcast", "--port", str(ours), "--plain", f"127.0.0.1:{nc_port}"],
            stdin="一\n二\n".encode(),
        )
        assert result.returncode == 0, result.stderr
        listener.wait_for("一\n二\n".encode(), stream="out")  # two lines, not "一二"
        sent = run_pigeon(
            ["send", "--no-broadcast", "--port", str(ours), "--plain", f"127.0.0.1:{nc_port}", "三"]
        )
        assert sent.returncode == 0, sent.stderr
        listener.wait_for("一\n二\n三\n".encode(), stream="out")


def test_the_peer_table_aligns_chinese_names_in_terminal_cells() -> None:
    pa, pb, pc = udp_port(), udp_port(), udp_port()
    with (
        chat_peer(pa, "鲍勃"),
        chat_peer(pb, "alice"),
        chat_peer(pc, "李小龙的朋友们都在这里聊天呢"),
    ):
        result = run_pigeon(
            ["peers", "--no-broadcast", "--port", "0", "--timeout", "1"]
            + [f"127.0.0.1:{p}" for p in (pa, pb, pc)]
        )
    assert result.returncode == 0, result.stderr
    rows = [x for x in result.stdout.decode().splitlines() if "127.0.0.1:" in x]
    assert len(rows) == 3, rows
    starts = {cells(row[: row.index("127.0.0.1:")]) for row in rows}
    assert len(starts) == 1, rows  # the address column starts at one cell in every row
    assert any("…" in row for row in rows)  # the long name was cut to the column


def test_a_file_offered_over_ipv6_is_fetched_and_both_sides_name_the_other(
    tmp_path: Path,
) -> None:
    pa, pb = udp_port(), udp_port()
    shared = tmp_path / "笔记.txt"
    shared.write_text("over v6\n")
    dest = tmp_path / "in"
    with (
        chat_peer(pb, "bob", [f"[::1]:{pa}"]) as bob,
        chat_peer(pa, "alice", [f"[::1]:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, f"/send '{shared}'")
        [offer] = wait_events(bob, of_type("offer", incoming=True, name="alice"))
        assert offer["peer"] == f"[::1]:{pa}"
        say(bob, f"/get {offer['index']} {dest}")
        wait_events(bob, of_type("transfer", state="received", peer="alice"))
        wait_events(alice, of_type("transfer", state="sent", peer="bob"))
    assert (dest / shared.name).read_text() == "over v6\n"


@pytest.mark.parametrize("stop", ["ctrl-c", "too long"])
def test_a_send_that_introduced_itself_always_says_goodbye(stop: str) -> None:
    """The entry ``pigeon send`` gives a peer named by address is followed by its exit, also
    when Ctrl-C or a refused message ends it: a client that ignores NOADDLISTOPT (iptux)
    would otherwise list it for good."""
    with udp_receiver() as catcher:
        peer = f"127.0.0.1:{catcher.getsockname()[1]}"
        text = "x" * 9000 if stop == "too long" else "anyone?"
        argv = ["send", "--no-broadcast", "--port", "0", peer, text, "--timeout", "30"]
        with background([*AS_AT_A_TERMINAL, *argv]) as proc:
            modes = [int(catcher.recvfrom(65536)[0].split(b":", 5)[4]) & 0xFF]
            if stop == "ctrl-c":
                modes.append(int(catcher.recvfrom(65536)[0].split(b":", 5)[4]) & 0xFF)
                proc.stop(signal.SIGINT)
            else:
                proc.finish(30)
            modes.append(int(catcher.recvfrom(65536)[0].split(b":", 5)[4]) & 0xFF)
        entry, exit_ = 0x01, 0x02
        assert modes[0] == entry and modes[-1] == exit_, modes
