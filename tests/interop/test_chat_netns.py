"""Chat over a real (virtual) LAN: two network namespaces on a veth pair, real broadcast.

Root only (CI is root). Nothing here can reach beyond the pair: each namespace has just
loopback and its end of the veth. Also interop with iptux, a real IP Messenger client,
running headless under xvfb-run in the second namespace.
"""

from __future__ import annotations

import json
import subprocess
import tempfile

from tests.chat_helpers import events, of_type, wait_events
from tests.helpers import PIGEON, Background, require_tool
from tests.netns import VethPair, veth_pair


def _chat(pair: VethPair, ns: str, name: str, *extra: str) -> Background:
    proc = Background(
        pair.run_in(ns, [*PIGEON, "chat", "--json", "--name", name, *extra]), stdin=True
    )
    wait_events(proc, of_type("notice", discovery=True))
    return proc


def _pigeon(pair: VethPair, ns: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        pair.run_in(ns, [*PIGEON, *args]), capture_output=True, timeout=30, check=False
    )


def _joined(name: str, version_prefix: str = "1_pigeon_") -> object:
    def accept(e: dict[str, object]) -> bool:
        peer = e.get("peer")
        return (
            e.get("type") == "peer"
            and e.get("change") == "joined"
            and isinstance(peer, dict)
            and peer["name"] == name
            and str(peer["version"]).startswith(version_prefix)
        )

    return accept


def test_discovery_by_broadcast_and_send_by_name() -> None:
    with veth_pair("d") as pair:
        bob = _chat(pair, pair.ns_b, "bob", "--group", "lab")
        try:
            alice = _chat(pair, pair.ns_a, "alice")
            try:
                # alice's BR_ENTRY went out as a broadcast; bob answered by unicast
                [seen] = wait_events(alice, _joined("bob"))  # type: ignore[arg-type]
                assert seen["peer"]["address"] == f"{pair.addr_b}:2425"  # type: ignore[index]
                assert seen["peer"]["group"] == "lab"  # type: ignore[index]
                wait_events(bob, _joined("alice"))  # type: ignore[arg-type]
                alice.send_stdin(b"/to bob\nhello over the LAN\n")
                [msg] = wait_events(bob, of_type("message", name="alice"))
                assert msg["text"] == "hello over the LAN"
                wait_events(alice, of_type("delivered", id=1))
            finally:
                alice.stop()
            wait_events(bob, of_type("peer", change="left"))
            # one-shot commands find bob by broadcast too (port 2425 is free in ns_a now)
            listed = _pigeon(pair, pair.ns_a, "peers", "--json", "--timeout", "1")
            assert listed.returncode == 0, listed.stderr
            names = {p["name"]: p for p in json.loads(listed.stdout)["peers"]}
            assert names["bob"]["address"] == f"{pair.addr_b}:2425"
            sent = _pigeon(pair, pair.ns_a, "send", "bob", "by name", "--json")
            assert sent.returncode == 0, sent.stderr
            assert [json.loads(x)["type"] for x in sent.stdout.splitlines()] == [
                "sent",
                "delivered",
            ]
            assert [e["text"] for e in events(bob) if e.get("type") == "message"][-1] == "by name"
        finally:
            bob.stop()


def test_iptux_discovers_pigeon_is_discovered_and_acks() -> None:
    require_tool("iptux")
    xvfb = require_tool("xvfb-run")
    with veth_pair("x") as pair, tempfile.TemporaryDirectory() as home:
        alice = _chat(pair, pair.ns_a, "alice")
        try:
            iptux = Background(pair.run_in(pair.ns_b, ["env", f"HOME={home}", xvfb, "-a", "iptux"]))
            try:
                # iptux broadcasts BR_ENTRY when it starts: pigeon lists it and answers
                [seen] = wait_events(alice, _joined("root", "1_iptux"), timeout=30)  # type: ignore[arg-type]
                assert seen["peer"]["address"] == f"{pair.addr_b}:2425"  # type: ignore[index]
                assert seen["peer"]["encoding"] == "utf-8"  # type: ignore[index]
                alice.send_stdin(f"/to {pair.addr_b}\n你好 iptux\n".encode())
                [done] = wait_events(alice, of_type("delivered", id=1))
                assert done["to"] == f"{pair.addr_b}:2425"
                alice.stop()
                # started after iptux: pigeon's broadcast BR_ENTRY is answered (ANSENTRY)
                listed = _pigeon(pair, pair.ns_a, "peers", "--json", "--timeout", "2")
                assert listed.returncode == 0, listed.stderr
                versions = [p["version"] for p in json.loads(listed.stdout)["peers"]]
                assert any(v.startswith("1_iptux") for v in versions), listed.stdout
                sent = _pigeon(pair, pair.ns_a, "send", pair.addr_b, "one-shot 一次")
                assert sent.returncode == 0, sent.stdout + sent.stderr
            finally:
                pair.kill_all(pair.ns_b)  # iptux, xvfb-run and Xvfb alike
                iptux.stop()
        finally:
            alice.stop()


def test_one_shots_stay_silent_in_other_chats() -> None:
    """``pigeon peers`` and ``pigeon send NAME`` broadcast BR_ENTRY and BR_EXIT to find peers:
    the chats answer them but show no "joined" or "left" for a command that lived a second."""
    with veth_pair("q") as pair:
        bob = _chat(pair, pair.ns_b, "bob")
        try:
            listed = _pigeon(pair, pair.ns_a, "peers", "--json", "--timeout", "1")
            assert listed.returncode == 0, listed.stderr
            assert [p["name"] for p in json.loads(listed.stdout)["peers"]] == ["bob"]
            sent = _pigeon(pair, pair.ns_a, "send", "bob", "quietly", "--json")
            assert sent.returncode == 0, sent.stderr
            [msg] = wait_events(bob, of_type("message", text="quietly"))
            assert str(msg["from"]).startswith(f"{pair.addr_a}:")
            carol = _chat(pair, pair.ns_a, "carol")  # a chat, by contrast, is announced
            try:
                wait_events(bob, _joined("carol"))  # type: ignore[arg-type]
            finally:
                carol.stop()
            wait_events(bob, of_type("peer", change="left"))
            changes = [(e["peer"]["name"], e["change"]) for e in events(bob) if e["type"] == "peer"]  # type: ignore[index]
            assert changes == [("carol", "joined"), ("carol", "left")], changes
        finally:
            bob.stop()


def test_all_is_shown_once_though_it_arrives_by_broadcast_and_to_the_peer() -> None:
    """With discovery on, /all goes to 255.255.255.255, the LAN's broadcast address and each
    known peer: bob receives three copies of one message and shows it once."""
    with veth_pair("w") as pair:
        bob = _chat(pair, pair.ns_b, "bob")
        try:
            alice = _chat(pair, pair.ns_a, "alice")
            try:
                wait_events(alice, _joined("bob"))  # type: ignore[arg-type]
                alice.send_stdin("/all 大家好\n/peers\n".encode())
                [msg] = wait_events(bob, of_type("message", broadcast=True))
                assert msg["text"] == "大家好"
                [table] = wait_events(alice, of_type("peers"))
                listed = table["peers"]
                assert isinstance(listed, list)  # broadcast addresses are no peers
                assert [p["address"] for p in listed] == [f"{pair.addr_b}:2425"]
                alice.send_stdin(b"/to bob\nafterwards\n")
                wait_events(bob, of_type("message", text="afterwards"))
            finally:
                alice.stop()
            shown = [e["text"] for e in events(bob) if e["type"] == "message"]
            assert shown == ["大家好", "afterwards"], shown
        finally:
            bob.stop()


def test_port_is_the_local_port_only_broadcasts_go_to_2425() -> None:
    """alice listens on 2426; her broadcast BR_ENTRY still goes to 2425, where bob is (with
    --port 2426 it went to 2426 and found nobody), and bob's answer reaches her on 2426."""
    with veth_pair("p") as pair:
        bob = _chat(pair, pair.ns_b, "bob")
        try:
            alice = _chat(pair, pair.ns_a, "alice", "--port", "2426")
            try:
                [seen] = wait_events(bob, _joined("alice"))  # type: ignore[arg-type]
                assert seen["peer"]["address"] == f"{pair.addr_a}:2426"  # type: ignore[index]
                wait_events(alice, _joined("bob"))  # type: ignore[arg-type]
                alice.send_stdin(f"/to {pair.addr_b}\nto bob on 2425\n".encode())
                wait_events(bob, of_type("message", text="to bob on 2425"))
                wait_events(alice, of_type("delivered", id=1, to=f"{pair.addr_b}:2425"))
            finally:
                alice.stop()
        finally:
            bob.stop()


def test_a_link_local_ipv6_peer_is_answered_on_its_link() -> None:
    """fe80:: addresses mean something only with their interface: a message to one is
    delivered and acknowledged back through the same link (the scope was dropped when the
    name was resolved and when a datagram arrived, so neither side's packets found it)."""
    with veth_pair("l") as pair:
        for ns, dev, addr in ((pair.ns_a, "pg-a", "fe80::a"), (pair.ns_b, "pg-b", "fe80::b")):
            subprocess.run(
                ["ip", "-n", ns, "-6", "addr", "add", f"{addr}/64", "dev", dev, "nodad"],
                check=True,
                capture_output=True,
            )
        bob = Background(
            pair.run_in(pair.ns_b, [*PIGEON, "chat", "--json", "--name", "bob", "--no-broadcast"]),
            stdin=True,
        )
        try:
            wait_events(bob, of_type("notice", discovery=False))
            sent = _pigeon(pair, pair.ns_a, "send", "--no-broadcast", "[fe80::b%pg-a]:2425", "hi")
            assert sent.returncode == 0, sent.stderr  # delivered: bob's ack found its link
            [msg] = wait_events(bob, of_type("message", text="hi"))
            assert str(msg["from"]).startswith("[fe80::a%pg-b]:")
        finally:
            bob.stop()
