"""Chat through a lossy relay: every message delivered exactly once, or reported failed."""

from __future__ import annotations

from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.udp_faults import udp_relay

MESSAGES = 20
PATIENT = ["--retries", "25", "--retry-interval", "0.2"]
"""Enough tries that 30% loss each way fails a message with probability 0.51**25 < 1e-7."""


def test_lossy_relay_delivers_every_message_exactly_once_both_ways() -> None:
    pa, pb = udp_port(), udp_port()
    with udp_relay(
        ("127.0.0.1", pa), ("127.0.0.1", pb), seed=2425, drop=0.3, duplicate=0.2, reorder=0.2
    ) as relay:
        with (
            chat_peer(pa, "alice", [f"127.0.0.1:{relay.for_a}"], PATIENT) as alice,
            chat_peer(pb, "bob", [f"127.0.0.1:{relay.for_b}"], PATIENT) as bob,
        ):
            say(alice, *(f"a{i}" for i in range(MESSAGES)))
            say(bob, *(f"b{i}" for i in range(MESSAGES)))
            wait_events(alice, of_type("delivered"), count=MESSAGES, timeout=60)
            wait_events(bob, of_type("delivered"), count=MESSAGES, timeout=60)
            at_b = [str(e["text"]) for e in events(bob) if e.get("type") == "message"]
            at_a = [str(e["text"]) for e in events(alice) if e.get("type") == "message"]
            assert sorted(at_b) == sorted(f"a{i}" for i in range(MESSAGES))  # none twice
            assert sorted(at_a) == sorted(f"b{i}" for i in range(MESSAGES))
            for proc in (alice, bob):
                assert not [e for e in events(proc) if e.get("type") == "not_delivered"]
        # the relay really was hostile
        assert relay.stats.dropped > 10 and relay.stats.duplicated > 5 and relay.stats.reordered > 5


def test_relay_that_drops_everything_gets_every_message_reported() -> None:
    pa, pb = udp_port(), udp_port()
    impatient = ["--retries", "3", "--retry-interval", "0.1"]
    with (
        udp_relay(("127.0.0.1", pa), ("127.0.0.1", pb), seed=1, drop=1.0) as relay,
        chat_peer(pb, "bob"),
        chat_peer(pa, "alice", [f"127.0.0.1:{relay.for_a}"], impatient) as alice,
    ):
        say(alice, "one", "two", "three")
        failed = wait_events(alice, of_type("not_delivered"), count=3)
        assert sorted(int(str(e["id"])) for e in failed) == [1, 2, 3]
        assert all(e["tries"] == 3 for e in failed)
        assert not [e for e in events(alice) if e.get("type") == "delivered"]
        say(alice, "/quit")
        assert alice.finish() == 12


def test_corrupting_relay_never_crashes_and_every_message_gets_an_outcome() -> None:
    """Bytes flipped in 15% of datagrams (UDP's own checksum would catch this on a real
    line; IP Messenger has no integrity check of its own): nothing crashes, and every message
    ends as delivered or not delivered — none is left pending or silently lost."""
    pa, pb = udp_port(), udp_port()
    quick = ["--retries", "10", "--retry-interval", "0.1"]
    with (
        udp_relay(("127.0.0.1", pa), ("127.0.0.1", pb), seed=99, corrupt=0.15, drop=0.1) as relay,
        chat_peer(pb, "bob", [f"127.0.0.1:{relay.for_b}"], quick) as bob,
        chat_peer(pa, "alice", [f"127.0.0.1:{relay.for_a}"], quick) as alice,
    ):
        say(alice, *(f"c{i}" for i in range(MESSAGES)))
        outcomes = wait_events(
            alice,
            lambda e: e.get("type") in ("delivered", "not_delivered"),
            count=MESSAGES,
            timeout=60,
        )
        assert sorted(int(str(e["id"])) for e in outcomes) == list(range(1, MESSAGES + 1))
        assert alice.proc.poll() is None and bob.proc.poll() is None
        assert b"Traceback" not in alice.err + bob.err
        assert relay.stats.corrupted > 0
