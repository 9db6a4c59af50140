"""The chat state machine with an explicit clock: acks, retries, dedupe, peers, encodings."""

from __future__ import annotations

from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.errors import DatagramTooLong
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.delivery import (
    PACKET_NO_LIMIT,
    RECENT_LIMIT,
    RETRY_INTERVAL,
    TRIES,
    packet_seed,
)
from pigeon.proto.chat.events import (
    Delivered,
    Flooded,
    MessageIn,
    MessageOut,
    NotDelivered,
    Output,
    PeerChange,
    PeerChanged,
    PeerInfo,
    Transmit,
)
from pigeon.proto.chat.messenger import Messenger
from pigeon.proto.chat.outgoing import Identity
from pigeon.proto.chat.rate import RATE_BURST, RATE_PER_SECOND

T = TypeVar("T")
A = ("10.0.0.1", 2425)
B = ("10.0.0.2", 2425)


def make(
    nick: str = "alice",
    *,
    encoding: str = "auto",
    retry_interval: float = RETRY_INTERVAL,
    tries: int = TRIES,
    rate: float = RATE_PER_SECOND,
    burst: float = RATE_BURST,
) -> Messenger:
    ident = Identity(
        user=nick, host=f"{nick}-pc", nick=nick, group="team", version="1_test", encoding=encoding
    )
    m = Messenger(
        ident,
        first_packet_no=1000,
        retry_interval=retry_interval,
        tries=tries,
        rate=rate,
        burst=burst,
    )
    m.own_port = 2425
    return m


def known(messenger: Messenger, addr: tuple[str, int]) -> PeerInfo:
    peer = messenger.peer(addr)
    assert peer is not None
    return peer


def sent(outputs: list[Output]) -> list[Transmit]:
    return [o for o in outputs if isinstance(o, Transmit)]


def events(outputs: list[Output], kind: type[T]) -> list[T]:
    return [o for o in outputs if isinstance(o, kind)]


def packets(outputs: list[Output]) -> list[ipmsg.Packet]:
    found = []
    for t in sent(outputs):
        packet = ipmsg.parse_packet(t.data)
        assert packet is not None
        found.append(packet)
    return found


def deliver(outputs: list[Output], to: Messenger, src: tuple[str, int], now: float) -> list[Output]:
    result: list[Output] = []
    for t in sent(outputs):
        result += to.receive(t.data, src, now)
    return result


def test_message_is_acked_and_delivered() -> None:
    alice, bob = make("alice"), make("bob")
    msg_id, out = alice.send_text(B, "hi bob", 0.0)
    [packet] = packets(out)
    assert packet.mode == ipmsg.SENDMSG and packet.has(ipmsg.SENDCHECKOPT | ipmsg.UTF8OPT)
    assert isinstance(out[1], MessageOut) and out[1].acked
    at_bob = bob.receive(sent(out)[0].data, A, 0.1)
    [msg] = events(at_bob, MessageIn)
    assert isinstance(msg, MessageIn) and msg.text == "hi bob" and not msg.plain
    [ack] = [p for p in packets(at_bob) if p.mode == ipmsg.RECVMSG]
    assert ipmsg.ack_number(ack.extra) == packet.packet_no
    back = deliver([t for t in sent(at_bob) if ipmsg.parse_packet(t.data) == ack], alice, B, 0.2)
    assert back == [Delivered(msg_id, known(alice, B), 1)]
    assert alice.pending == 0 and alice.next_deadline() is None


def test_retransmits_on_time_then_gives_up() -> None:
    alice = make(retry_interval=0.75, tries=6)
    msg_id, out = alice.send_text(B, "anyone?", 10.0)
    assert alice.next_deadline() == pytest.approx(10.75)
    assert alice.tick(10.7) == []  # not yet
    times = []
    now = 10.75
    for _ in range(5):
        retry = alice.tick(now)
        assert sent(retry)[0].data == sent(out)[0].data  # the same packet, same number
        times.append(now)
        now += 0.75
    final = alice.tick(now)
    assert final == [NotDelivered(msg_id, known(alice, B), 6)]
    assert times == pytest.approx([10.75, 11.5, 12.25, 13.0, 13.75])
    assert alice.next_deadline() is None


def test_lost_ack_duplicate_is_reacked_but_shown_once() -> None:
    alice, bob = make("alice"), make("bob")
    _id, out = alice.send_text(B, "once", 0.0)
    first = bob.receive(sent(out)[0].data, A, 0.0)
    again = bob.receive(sent(alice.tick(0.75))[0].data, A, 0.75)
    assert len(events(first, MessageIn)) == 1
    assert events(again, MessageIn) == []
    assert [p.mode for p in packets(again)] == [ipmsg.RECVMSG]


def test_broadcast_and_autoreply_messages_are_never_acked() -> None:
    bob = make("bob")
    for option in (ipmsg.BROADCASTOPT, ipmsg.AUTORETOPT):
        data = ipmsg.encode_packet(
            ipmsg.Packet(
                "1_x", 5 + option, b"a", b"h", ipmsg.SENDMSG | ipmsg.SENDCHECKOPT | option, b"x"
            )
        )
        out = bob.receive(data, A, 0.0)
        assert [p.mode for p in packets(out) if p.mode == ipmsg.RECVMSG] == []
        assert len(events(out, MessageIn)) == 1


def test_broadcast_send_awaits_no_ack() -> None:
    alice = make()
    _id, out = alice.send_text(B, "all", 0.0, broadcast=True)
    [packet] = packets(out)
    assert packet.has(ipmsg.BROADCASTOPT) and not packet.has(ipmsg.SENDCHECKOPT)
    assert alice.pending == 0


def test_entry_is_answered_and_peer_learned_with_utf8_names() -> None:
    alice, bob = make("alice"), make("小明")
    entry = alice.enter([B])
    [packet] = packets(entry)
    assert packet.mode == ipmsg.BR_ENTRY and packet.has(ipmsg.CAPUTF8OPT)
    assert not packet.has(ipmsg.UTF8OPT)  # entry packets must not set it
    at_bob = deliver(entry, bob, A, 0.0)
    [joined] = events(at_bob, PeerChanged)
    assert isinstance(joined, PeerChanged) and joined.change is PeerChange.JOINED
    assert joined.peer.name == "alice" and joined.peer.group == "team"
    [answer] = packets(at_bob)
    assert answer.mode == ipmsg.ANSENTRY
    at_alice = deliver(at_bob, alice, B, 0.0)
    assert [p.mode for p in packets(at_alice)] == []  # ANSENTRY is not answered
    [seen] = events(at_alice, PeerChanged)
    assert isinstance(seen, PeerChanged) and seen.peer.name == "小明"
    assert seen.peer.encoding == "utf-8"


def test_exit_removes_the_peer() -> None:
    alice, bob = make("alice"), make("bob")
    deliver(alice.enter([B]), bob, A, 0.0)
    out = deliver(alice.leave([B]), bob, A, 1.0)
    [left] = events(out, PeerChanged)
    assert isinstance(left, PeerChanged) and left.change is PeerChange.LEFT
    assert bob.peers() == []


def test_own_broadcast_echo_is_ignored() -> None:
    alice = make()
    entry = alice.enter([("255.255.255.255", 2425)])
    assert alice.receive(sent(entry)[0].data, ("10.0.0.1", 2425), 0.0) == []
    assert alice.peers() == []


def test_other_peer_on_a_same_named_host_with_colliding_numbers_is_not_an_echo() -> None:
    alice, bob = make("alice"), make("bob")
    bob.identity = alice.identity.__class__(
        user="alice", host="alice-pc", nick="bob", group="team", version="1_test"
    )  # same user, host and version; only the nick differs
    out = deliver(alice.enter([B]), bob, A, 0.0)  # both seeded 1000: numbers collide
    [answer] = sent(out)
    assert len(events(alice.receive(answer.data, B, 0.0), PeerChanged)) == 1


def test_same_host_other_port_with_colliding_numbers_is_not_an_echo() -> None:
    alice, bob = make("alice"), make("alice")  # same names and number seed on one machine
    out = deliver(alice.enter([("127.0.0.1", 2426)]), bob, ("127.0.0.1", 2425), 0.0)
    assert len(events(out, PeerChanged)) == 1


def test_noaddlist_sender_is_not_listed_but_still_acked() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(
        ipmsg.Packet(
            "1_x", 9, b"once", b"h", ipmsg.SENDMSG | ipmsg.SENDCHECKOPT | ipmsg.NOADDLISTOPT, b"hi"
        )
    )
    out = bob.receive(data, A, 0.0)
    assert [p.mode for p in packets(out)] == [ipmsg.RECVMSG]
    assert len(events(out, MessageIn)) == 1
    assert bob.peers() == []


def test_unknown_sender_is_added_and_asked_who_it_is() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(ipmsg.Packet("1_x", 9, b"carol", b"h", ipmsg.SENDMSG, b"hi"))
    out = bob.receive(data, A, 0.0)
    assert [p.mode for p in packets(out)] == [ipmsg.BR_ENTRY]
    assert [p.name for p in bob.peers()] == ["carol"]


def test_unknown_commands_are_ignored_politely() -> None:
    bob = make("bob")
    for mode in (0x79, 0x7A, 0xD1, ipmsg.GETPUBKEY):
        data = ipmsg.encode_packet(ipmsg.Packet("1_lbt6_0", mode, b"f", b"h", mode, b"?"))
        assert bob.receive(data, A, 0.0) == []
    assert bob.ignored == 4


def test_getinfo_is_answered_with_the_version() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(ipmsg.Packet("1_x", 3, b"f", b"h", ipmsg.GETINFO))
    [answer] = packets(bob.receive(data, A, 0.0))
    assert answer.mode == ipmsg.SENDINFO and answer.extra.rstrip(b"\0") == b"1_test"


def test_gbk_peer_is_learned_from_evidence_and_answered_in_gbk() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(
        ipmsg.Packet("1_x", 3, b"f", b"h", ipmsg.SENDMSG, "你好".encode("gbk"))
    )
    [msg] = events(bob.receive(data, A, 0.0), MessageIn)
    assert isinstance(msg, MessageIn) and (msg.text, msg.encoding) == ("你好", "gb18030")
    _id, out = bob.send_text(A, "收到", 0.1)
    [packet] = packets(out)
    assert not packet.has(ipmsg.UTF8OPT)
    assert ipmsg.message_body(packet.extra)[0] == "收到".encode("gbk")


def test_ascii_is_no_evidence_of_an_encoding() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(ipmsg.Packet("1_x", 3, b"f", b"h", ipmsg.SENDMSG, b"hello"))
    bob.receive(data, A, 0.0)
    _id, out = bob.send_text(A, "你好", 0.1)
    assert packets(out)[0].has(ipmsg.UTF8OPT)  # unknown: UTF-8, flagged


def test_feiq_is_spoken_to_in_gbk() -> None:
    bob = make("bob")
    entry = ipmsg.encode_packet(
        ipmsg.Packet(
            "1_lbt6_0#128#001122334455#0#0#0#4001#9",
            3,
            b"f",
            b"PC",
            ipmsg.ANSENTRY,
            "张三".encode("gbk") + b"\0" + "工作组".encode("gbk") + b"\0",
        )
    )
    [joined] = events(bob.receive(entry, A, 0.0), PeerChanged)
    assert isinstance(joined, PeerChanged) and joined.peer.name == "张三"
    assert joined.peer.group == "工作组" and joined.peer.encoding == "gb18030"
    _id, out = bob.send_text(A, "你好", 0.1)
    assert ipmsg.message_body(packets(out)[0].extra)[0] == "你好".encode("gbk")


def test_forced_encoding_is_used_for_peers_without_utf8() -> None:
    bob = make("bob", encoding="gbk")
    _id, out = bob.send_text(A, "你好", 0.0)
    [packet] = packets(out)
    assert not packet.has(ipmsg.UTF8OPT) and packet.extra.startswith("你好".encode("gbk"))


def test_plain_datagram_is_a_plain_peer_answered_in_its_encoding() -> None:
    bob = make("bob")
    out = bob.receive("你好\n".encode("gbk"), ("10.0.0.9", 8080), 0.0)
    [joined] = events(out, PeerChanged)
    [msg] = events(out, MessageIn)
    assert isinstance(joined, PeerChanged) and joined.peer.plain
    assert isinstance(msg, MessageIn) and msg.plain and msg.text == "你好"
    _id, reply = bob.send_text(("10.0.0.9", 8080), "收到", 0.1)
    assert sent(reply)[0].data == "收到\n".encode("gbk")  # bare text, its line ending, no header
    assert bob.pending == 0


def test_binary_plain_datagram_is_shown_as_hex() -> None:
    bob = make("bob")
    [msg] = events(bob.receive(b"\xff\xfe\x00\x81", ("10.0.0.9", 1), 0.0), MessageIn)
    assert isinstance(msg, MessageIn) and msg.encoding == "hex" and msg.text == "ff fe 00 81"


def test_too_long_message_is_refused_before_anything_is_sent() -> None:
    alice = make()
    with pytest.raises(DatagramTooLong):
        alice.send_text(B, "x" * (ipmsg.MAX_TEXT_BYTES + 1), 0.0)
    assert alice.pending == 0


def test_flooding_address_is_rate_limited_and_counted() -> None:
    bob = make("bob", rate=10.0, burst=20.0)
    flood = ("10.0.0.66", 9999)
    shown = reports = 0
    for i in range(1000):
        out = bob.receive(f"spam {i}".encode(), flood, 0.001 * i)
        shown += len(events(out, MessageIn))
        reports += len(events(out, Flooded))
    assert shown < 40 and bob.dropped == 1000 - shown and reports == 1
    # another address is not starved by it
    assert len(events(bob.receive(b"hello", ("10.0.0.7", 1), 1.0), MessageIn)) == 1


def test_dedupe_set_is_bounded() -> None:
    bob = make("bob", rate=1e9, burst=1e9)
    for no in range(10_000):
        data = ipmsg.encode_packet(
            ipmsg.Packet("1_x", no, b"f", b"h", ipmsg.SENDMSG | ipmsg.NOADDLISTOPT, b"x")
        )
        bob.receive(data, A, 0.0)
    assert len(bob._seen) <= RECENT_LIMIT


@settings(max_examples=1500)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_receive_never_raises(datagrams: list[bytes]) -> None:
    bob = make("bob")
    for i, data in enumerate(datagrams):
        bob.receive(data, A, float(i))
        bob.receive(b"1:%d:u:h:32:" % i + data, A, float(i))


def test_ack_bytes_are_a_plain_recvmsg_packet_naming_the_number() -> None:
    bob = make("bob")
    data = ipmsg.encode_packet(
        ipmsg.Packet("1_x", 77, b"f", b"h", ipmsg.SENDMSG | ipmsg.SENDCHECKOPT, b"hi")
    )
    entry, ack = sent(bob.receive(data, A, 0.0))  # an unknown sender is also asked who it is
    assert entry.data.startswith(b"1_test:1001:bob:bob-pc:")
    assert ack.data == b"1_test:1002:bob:bob-pc:33:77\0" and ack.addr == A
    [again] = sent(bob.receive(data, A, 0.1))  # the duplicate: acked again, a new number
    assert again.data == b"1_test:1003:bob:bob-pc:33:77\0"


def test_secret_message_is_acked_then_marked_read() -> None:
    bob = make("bob")
    command = ipmsg.SENDMSG | ipmsg.SENDCHECKOPT | ipmsg.SECRETOPT
    data = ipmsg.encode_packet(ipmsg.Packet("1_x", 5, b"f", b"h", command, b"psst"))
    out = bob.receive(data, A, 0.0)
    assert [(p.mode, ipmsg.ack_number(p.extra)) for p in packets(out)] == [
        (ipmsg.BR_ENTRY, None),  # who is this?
        (ipmsg.RECVMSG, 5),
        (ipmsg.READMSG, 5),
    ]


def test_utf8_flag_on_bytes_that_are_not_utf8_falls_back_to_gb18030() -> None:
    bob = make("bob")
    command = ipmsg.SENDMSG | ipmsg.UTF8OPT
    data = ipmsg.encode_packet(ipmsg.Packet("1_x", 5, b"f", b"h", command, "你好".encode("gbk")))
    [msg] = events(bob.receive(data, A, 0.0), MessageIn)
    assert isinstance(msg, MessageIn) and (msg.text, msg.encoding) == ("你好", "gb18030")


def test_peer_snapshot_follows_a_rename_between_messages() -> None:
    alice, bob = make("alice"), make("bob")
    deliver(alice.enter([B]), bob, A, 0.0)
    _id, out = alice.send_text(B, "one", 0.1)
    [first] = events(deliver(out, bob, A, 0.1), MessageIn)
    deliver(alice.rename("alicia", [B]), bob, A, 0.2)
    _id, out = alice.send_text(B, "two", 0.3)
    [second] = events(deliver(out, bob, A, 0.3), MessageIn)
    assert isinstance(first, MessageIn) and first.peer.name == "alice"
    assert isinstance(second, MessageIn) and second.peer.name == "alicia"
    assert bob.peer(A) == second.peer


def test_ack_from_another_host_does_not_settle_a_message() -> None:
    alice = make("alice")
    msg_id, out = alice.send_text(B, "hi", 0.0)
    [packet] = packets(out)
    forged = ipmsg.encode_packet(
        ipmsg.Packet("1_x", 3, b"m", b"h", ipmsg.RECVMSG, b"%d" % packet.packet_no)
    )
    assert alice.receive(forged, ("10.0.0.66", 2425), 0.1) == []
    assert alice.pending == 1
    real = ipmsg.encode_packet(
        ipmsg.Packet("1_x", 4, b"bob", b"h", ipmsg.RECVMSG, b"%d" % packet.packet_no)
    )
    [done] = alice.receive(real, B, 0.2)
    assert isinstance(done, Delivered) and done.msg_id == msg_id and alice.pending == 0


def test_token_bucket_admits_exactly_burst_then_rate() -> None:
    bob = make("bob", rate=10.0, burst=20.0)
    flood = ("10.0.0.66", 9999)

    def admitted(count: int, now: float) -> int:
        return sum(
            len(events(bob.receive(f"m{i}".encode(), flood, now), MessageIn)) for i in range(count)
        )

    assert admitted(30, 0.0) == 20  # the burst, at one instant
    assert admitted(30, 0.5) == 5  # half a second refills five
    assert admitted(30, 100.0) == 20  # a long pause refills to the burst, never beyond
    assert bob.dropped == 10 + 25 + 10


# --- packet numbers across processes, and dedupe that cannot swallow a new message ----------


def _message(number: int, text: bytes, *, options: int = ipmsg.SENDCHECKOPT) -> bytes:
    command = ipmsg.SENDMSG | ipmsg.NOADDLISTOPT | ipmsg.UTF8OPT | options
    return ipmsg.encode_packet(ipmsg.Packet("1_x", number, b"f", b"h", command, text))


def _acked(outputs: list[Output]) -> list[int | None]:
    return [ipmsg.ack_number(p.extra) for p in packets(outputs) if p.mode == ipmsg.RECVMSG]


def test_restarted_sender_reusing_a_number_with_new_text_is_shown_and_acked() -> None:
    """A new process on the same address and port that starts from the same number (two
    one-shots within one clock second, as IP Messenger numbers them): its message is new."""
    bob = make("bob")
    first = bob.receive(_message(1_700_000_001, b"first"), A, 0.0)
    second = bob.receive(_message(1_700_000_001, b"second"), A, 0.1)
    assert [m.text for m in events(first + second, MessageIn)] == ["first", "second"]
    assert _acked(first) == _acked(second) == [1_700_000_001]


def test_true_duplicate_is_reacked_but_not_shown_twice_even_after_a_reused_number() -> None:
    bob = make("bob")
    old, new = _message(42, b"old"), _message(42, b"new")
    outs = [bob.receive(data, A, i / 10) for i, data in enumerate([old, old, new, new, old])]
    assert [len(events(out, MessageIn)) for out in outs] == [1, 0, 1, 0, 0]
    assert [_acked(out) for out in outs] == [[42]] * 5  # each copy acked: an ack may be lost
    assert [packets(out)[-1].mode for out in outs] == [ipmsg.RECVMSG] * 5


def test_duplicate_with_a_rebuilt_header_is_still_a_duplicate() -> None:
    bob = make("bob")
    first = bob.receive(_message(9, b"same text"), A, 0.0)
    again = bob.receive(_message(9, b"same text", options=ipmsg.SENDCHECKOPT | 0x100000), A, 0.1)
    assert len(events(first, MessageIn)) == 1 and events(again, MessageIn) == []
    assert _acked(again) == [9]


def test_same_number_from_another_port_is_another_sender() -> None:
    bob = make("bob")
    data = _message(7, b"hi")
    assert len(events(bob.receive(data, A, 0.0), MessageIn)) == 1
    assert len(events(bob.receive(data, (A[0], A[1] + 1), 0.0), MessageIn)) == 1


def test_ack_follows_the_message_it_acknowledges() -> None:
    """The shell acts on outputs in order: the message is shown before "received" is sent."""
    bob = make("bob")
    out = bob.receive(_message(5, b"shown first"), A, 0.0)
    shown = next(i for i, o in enumerate(out) if isinstance(o, MessageIn))
    acks = [i for i, o in enumerate(out) if isinstance(o, Transmit) and b":33:5\0" in o.data]
    assert len(acks) == 1 and acks[0] > shown


def test_packet_seeds_of_processes_started_one_after_another_never_meet() -> None:
    """One-shots started 1 ms or more apart on one port: each one's numbers start beyond
    every number the one before could have used in between (256 per millisecond), whatever
    the random bits; the same millisecond differs by the random bits alone."""
    clock = 1_764_000_000.0
    for noise_a in (0, 1, 255, 2**32 - 1):
        for noise_b in (0, 1, 255, 2**32 - 1):
            a = packet_seed(clock, noise_a)
            assert packet_seed(clock + 0.001, noise_b) > a
            later = packet_seed(clock + 0.120, noise_b)  # about a one-shot's lifetime
            assert later - a > 119 * 256 - 256  # numbers the first could use before it
    assert len({packet_seed(clock, n) for n in range(256)}) == 256


@given(st.floats(0, 2**33), st.integers(0, 2**32 - 1))
def test_packet_seeds_leave_headroom_below_what_peers_read(clock: float, noise: int) -> None:
    seed = packet_seed(clock, noise)
    assert 1 <= seed <= 2**30 and PACKET_NO_LIMIT - seed >= 2**30 - 1


def test_packet_numbers_wrap_below_the_limit_and_stay_decimal() -> None:
    ident = Identity(user="u", host="h", nick="n", version="1_test")
    m = Messenger(ident, first_packet_no=PACKET_NO_LIMIT - 2)
    numbers = [packets(m.send_text(B, f"m{i}", 0.0)[1])[0].packet_no for i in range(3)]
    assert numbers == [PACKET_NO_LIMIT - 1, 1, 2]
    wrapped = Messenger(ident, first_packet_no=PACKET_NO_LIMIT + 5)
    assert packets(wrapped.enter([B]))[0].packet_no == 6
