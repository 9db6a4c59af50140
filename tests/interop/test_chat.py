"""pigeon chat, send and peers on loopback: pigeon to pigeon with acks, plain peers, limits.

Every process here runs with --no-broadcast and explicit peers: nothing leaves loopback.
"""

from __future__ import annotations

import json
import signal
import socket

from tests import tutorial_peers
from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import background, require_tool, run_pigeon


def test_two_chat_peers_exchange_messages_both_ways_with_acks() -> None:
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice,
        chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob,
    ):
        # each learns the other's nick from the entry exchange
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, "hello bob", "你好，鲍勃")
        say(bob, "hi alice")
        got_b = wait_events(bob, of_type("message", name="alice"), count=2)
        got_a = wait_events(alice, of_type("message", name="bob"))
        assert [e["text"] for e in got_b] == ["hello bob", "你好，鲍勃"]
        assert got_a[0]["text"] == "hi alice" and got_a[0]["from"] == f"127.0.0.1:{pb}"
        delivered = wait_events(alice, of_type("delivered"), count=2)
        assert sorted(int(str(e["id"])) for e in delivered) == [1, 2]
        wait_events(bob, of_type("delivered", id=1))
        say(alice, "/quit")
        assert alice.finish() == 0
        left = wait_events(bob, of_type("peer", change="left"))
        assert left[0]["peer"]["name"] == "alice"  # type: ignore[index]
    assert not [e for e in events(bob) if e.get("type") == "not_delivered"]


def test_end_of_input_waits_for_acks_then_exits() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob") as bob:
        result = run_pigeon(
            ["chat", "--no-broadcast", "--json", "--port", str(pa), f"127.0.0.1:{pb}"],
            stdin=b"one\ntwo\n",
        )
        assert result.returncode == 0, result.stderr
        kinds = [json.loads(line)["type"] for line in result.stdout.splitlines()]
        assert kinds.count("delivered") == 2
        assert [e["text"] for e in wait_events(bob, of_type("message"), count=2)] == ["one", "two"]


def test_undelivered_message_is_reported_and_exit_code_12() -> None:
    silent = udp_port()
    result = run_pigeon(
        [
            "chat",
            "--no-broadcast",
            "--port",
            str(udp_port()),
            "--retries",
            "3",
            "--retry-interval",
            "0.1",
            f"127.0.0.1:{silent}",
        ],
        stdin=b"anyone there?\n",
    )
    assert result.returncode == 12
    assert b"NOT delivered to 127.0.0.1:" in result.stdout
    assert b"after 3 tries" in result.stdout
    assert b"Traceback" not in result.stderr


def test_tutorial_chat_talks_to_pigeon_both_ways_utf8() -> None:
    pigeon_port, tut_port = udp_port(), udp_port()
    tut = tutorial_peers.chat_socket(tut_port)
    try:
        with chat_peer(pigeon_port, "pg") as pg:
            tutorial_peers.chat_send_msg(tut, "你好 pigeon", "127.0.0.1", pigeon_port)
            [msg] = wait_events(pg, of_type("message", plain=True))
            assert msg["text"] == "你好 pigeon" and msg["from"] == f"127.0.0.1:{tut_port}"
            say(pg, f"/to 127.0.0.1:{tut_port} plain", "收到 tutorial")
            text, addr = tutorial_peers.chat_recv_msg(tut)
            assert text == "收到 tutorial" and addr[1] == pigeon_port
    finally:
        tut.close()


def test_plain_peer_given_on_the_command_line_gets_plain_gbk_text() -> None:
    pigeon_port, tut_port = udp_port(), udp_port()
    tut = tutorial_peers.chat_socket(tut_port)
    try:
        with chat_peer(
            pigeon_port, "pg", extra=["--plain", f"127.0.0.1:{tut_port}", "--encoding", "gbk"]
        ) as pg:
            say(pg, "你好")
            data, _addr = tut.recvfrom(65536)
            # bare text in the chosen charset, no header; named plain before it spoke: a line
            assert data == "你好\n".encode("gbk")
            tut.sendto("再见".encode("gbk"), ("127.0.0.1", pigeon_port))
            [msg] = wait_events(pg, of_type("message", plain=True))
            assert msg["text"] == "再见"
    finally:
        tut.close()


def test_gbk_plain_peer_is_answered_in_gbk_after_evidence() -> None:
    pigeon_port, peer_port = udp_port(), udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", peer_port))
        peer.settimeout(10)
        with chat_peer(pigeon_port, "pg") as pg:
            peer.sendto("你好，我用 GBK".encode("gbk"), ("127.0.0.1", pigeon_port))
            [msg] = wait_events(pg, of_type("message", plain=True))
            assert (msg["text"], msg["encoding"]) == ("你好，我用 GBK", "gb18030")
            say(pg, f"/to 127.0.0.1:{peer_port}", "好的")
            data, _ = peer.recvfrom(65536)
            assert data == "好的".encode("gbk")


def test_nc_udp_is_a_plain_peer() -> None:
    nc = require_tool("nc")
    pigeon_port, nc_port = udp_port(), udp_port()
    with (
        chat_peer(pigeon_port, "pg") as pg,
        background(
            [nc, "-u", "-p", str(nc_port), "127.0.0.1", str(pigeon_port)], stdin=True
        ) as ncp,
    ):
        ncp.send_stdin(b"hello from nc\n")
        [msg] = wait_events(pg, of_type("message", plain=True))
        assert msg["text"] == "hello from nc"
        say(pg, f"/to 127.0.0.1:{nc_port}", "hello nc")
        ncp.wait_for(b"hello nc\n", stream="out")


def test_send_is_acknowledged_by_a_chat_peer() -> None:
    pb = udp_port()
    with chat_peer(pb, "bob") as bob:
        argv = ["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{pb}", "一次 once"]
        result = run_pigeon([*argv, "--json", "--name", "dave 大卫"])
        assert result.returncode == 0, result.stderr
        out = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["type"] for e in out] == ["sent", "delivered"]
        [msg] = wait_events(bob, of_type("message"))
        assert msg["text"] == "一次 once"
        assert msg["name"] == "dave 大卫"  # its nick, told by address: not its login name
        # NOADDLISTOPT: bob does not list a one-shot sender
        assert not [e for e in events(bob) if e.get("type") == "peer"]


def test_send_to_nobody_is_not_delivered_exit_12() -> None:
    result = run_pigeon(
        ["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{udp_port()}", "hi", "--timeout", "1"]
    )
    assert result.returncode == 12
    err = result.stderr.decode().strip().splitlines()
    assert (
        err[-1].startswith("pigeon: message to 127.0.0.1:")
        and "not acknowledged within 1 s" in err[-1]
    )
    assert b"Traceback" not in result.stderr


def test_send_plain_to_the_tutorial_chat() -> None:
    tut_port = udp_port()
    tut = tutorial_peers.chat_socket(tut_port)
    try:
        result = run_pigeon(
            ["send", "--no-broadcast", "--port", "0", "--plain", f"127.0.0.1:{tut_port}", "吃了吗"]
        )
        assert result.returncode == 0, result.stderr
        text, _addr = tutorial_peers.chat_recv_msg(tut)
        assert text == "吃了吗\n"  # a line, as every --plain message
    finally:
        tut.close()


def test_send_to_an_unknown_name_without_broadcast() -> None:
    result = run_pigeon(
        ["send", "--no-broadcast", "--port", "0", "nobody-here", "hi", "--timeout", "0.5"]
    )
    assert result.returncode == 5
    assert b"no peer called 'nobody-here' is known (broadcast is off)" in result.stderr


def test_peers_lists_who_answers() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pa, "alice", extra=["--group", "研发"]), chat_peer(pb, "bob"):
        result = run_pigeon(
            [
                "peers",
                "--no-broadcast",
                "--port",
                "0",
                "--timeout",
                "1",
                "--json",
                f"127.0.0.1:{pa}",
                f"127.0.0.1:{pb}",
            ]
        )
    assert result.returncode == 0, result.stderr
    [table] = [json.loads(line) for line in result.stdout.splitlines()]
    found = {p["name"]: p for p in table["peers"]}
    assert set(found) == {"alice", "bob"}
    assert found["alice"]["group"] == "研发"
    assert found["alice"]["address"] == f"127.0.0.1:{pa}"
    assert found["alice"]["version"].startswith("1_pigeon_")
    assert found["alice"]["encoding"] == "utf-8"


def test_too_long_message_is_refused_with_one_line() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob") as bob, chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice:
        say(alice, "x" * 9000, "short one")
        [notice] = wait_events(
            alice, lambda e: e.get("type") == "notice" and "at most 8,192" in str(e.get("text"))
        )
        assert "9,000 bytes" in str(notice["text"])
        [msg] = wait_events(bob, of_type("message"))
        assert msg["text"] == "short one"  # the long one was never sent; the chat went on
    result = run_pigeon(["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{pb}", "y" * 9000])
    assert result.returncode == 10
    assert b"at most 8,192" in result.stderr


def test_nick_history_peers_and_help_commands() -> None:
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob,
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, "/nick 爱丽丝")
        [renamed] = wait_events(bob, of_type("peer", change="updated"))
        assert renamed["peer"]["name"] == "爱丽丝"  # type: ignore[index]
        say(alice, "first", "/msg bob second", "/peers", "/history", "/help", "/nonsense")
        [table] = wait_events(alice, of_type("peers"))
        listed = table["peers"]
        assert isinstance(listed, list)
        assert [p["name"] for p in listed] == ["bob"]
        [history] = wait_events(alice, of_type("history"))
        entries = history["entries"]
        assert isinstance(entries, list)
        assert [(e["text"], e["outgoing"]) for e in entries] == [("first", True), ("second", True)]
        notices = [str(e["text"]) for e in wait_events(alice, of_type("notice"), count=4)]
        assert any("/quit" in n for n in notices)  # the help text
        assert any("unknown command /nonsense" in n for n in notices)
        got = wait_events(bob, of_type("message"), count=2)
        assert [(e["name"], e["text"]) for e in got] == [("爱丽丝", "first"), ("爱丽丝", "second")]


def test_all_sends_to_everyone_without_acks() -> None:
    pa, pb, pc = udp_port(), udp_port(), udp_port()
    with (
        chat_peer(pb, "bob") as bob,
        chat_peer(pc, "carol") as carol,
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}", f"127.0.0.1:{pc}"]) as alice,
    ):
        wait_events(alice, of_type("peer", change="joined"), count=2)
        say(alice, "/all 大家好")
        for proc in (bob, carol):
            [msg] = wait_events(proc, of_type("message", broadcast=True))
            assert msg["text"] == "大家好"
        [sent] = wait_events(alice, of_type("sent"))  # one message, to everyone
        assert (sent["to"], sent["broadcast"], sent["ack"]) == ("all", True, False)
        assert not [e for e in events(alice) if e.get("type") in ("delivered", "not_delivered")]
        say(alice, "/peers")  # /all added nobody to the table
        [table] = wait_events(alice, of_type("peers"))
        listed = table["peers"]
        assert isinstance(listed, list)
        assert sorted(p["name"] for p in listed) == ["bob", "carol"]


def test_sigint_says_goodbye_and_exits_0() -> None:
    pa, pb = udp_port(), udp_port()
    with chat_peer(pb, "bob") as bob, chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice:
        wait_events(bob, of_type("peer", change="joined"))
        assert alice.stop(signal.SIGINT) == 0
        [left] = wait_events(bob, of_type("peer", change="left"))
        assert left["peer"]["name"] == "alice"  # type: ignore[index]
        assert b"Traceback" not in alice.err
