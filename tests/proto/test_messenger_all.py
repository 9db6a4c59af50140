"""``/all``: one message under one packet number, however many copies reach a peer."""

from __future__ import annotations

import pytest

from pigeon.errors import UsageError
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import EVERYONE, MessageIn, MessageOut, Output
from tests.proto.test_messenger import deliver, events, make, packets, sent

A = ("10.0.0.1", 2425)
B = ("10.0.0.2", 2425)
C = ("10.0.0.3", 2425)
LAN = [("255.255.255.255", 2425), ("10.0.0.255", 2425)]


def test_every_copy_has_one_number_and_the_receiver_shows_it_once() -> None:
    alice, bob = make("alice"), make("bob")
    deliver(bob.enter([A]), alice, B, 0.0)  # alice knows bob (a pigeon: UTF-8)
    _id, out = alice.broadcast_text("大家好", [B], LAN)
    copies = packets(out)
    assert [t.addr for t in sent(out)] == [B, *LAN]  # the peer's own copy first
    assert len({p.packet_no for p in copies}) == 1
    assert all(p.has(ipmsg.BROADCASTOPT) and not p.has(ipmsg.SENDCHECKOPT) for p in copies)
    [out_event] = events(out, MessageOut)
    assert out_event.peer == EVERYONE and out_event.broadcast
    shown = deliver(out, bob, A, 0.1)  # all three copies reach bob
    assert [m.text for m in events(shown, MessageIn)] == ["大家好"]
    assert [p.addr for p in alice.peers()] == [B]  # broadcast addresses are no peers


def test_a_gbk_peer_gets_its_copy_in_gbk_first_and_shows_one() -> None:
    alice, feiq = make("alice"), make("feiq", encoding="gbk")
    alice.receive(b"1_lbt6_0#128#000000000000#0#0#0#4001#9:1:feiq:pc:32:\xc4\xe3\xba\xc3\0", C, 0)
    _id, out = alice.broadcast_text("你好", [C], LAN)
    first, *rest = sent(out)
    assert first.addr == C and "你好".encode("gbk") in first.data
    assert all("你好".encode() in t.data for t in rest)  # the broadcast copies: UTF-8
    shown = deliver(out, feiq, A, 0.1)
    assert len(events(shown, MessageIn)) == 1


def test_two_all_messages_are_two_messages() -> None:
    alice, bob = make("alice"), make("bob")
    first = deliver(alice.broadcast_text("one", [B], [])[1], bob, A, 0.0)
    again = deliver(alice.broadcast_text("one", [B], [])[1], bob, A, 0.1)
    assert len(events(first, MessageIn)) == len(events(again, MessageIn)) == 1


def test_nobody_to_send_to_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nobody to send to"):
        make().broadcast_text("hello?", [], [])


def test_copies_that_arrive_by_ipv4_and_by_ipv6_are_shown_once() -> None:
    """A peer known by both families (discovery over IPv4, its IPv6 address typed) gets
    copies from two source addresses: still one message (it was shown twice)."""
    alice, bob = make("alice"), make("bob")
    _id, out = alice.broadcast_text("hello all", [B, ("fd00::2", 2425)], [])
    by_v4: list[Output] = [t for t in sent(out) if t.addr == B]
    by_v6: list[Output] = [t for t in sent(out) if t.addr != B]
    shown = deliver(by_v4, bob, A, 0.0) + deliver(by_v6, bob, ("fd00::1", 2425), 0.1)
    assert [m.text for m in events(shown, MessageIn)] == ["hello all"]
