"""What a host is to the chat's rate limit and peer table: an IP address (an IPv4-mapped
address is its IPv4 address), and a shared bound for hosts not yet settled, so rotating
source addresses (IPv4, or the addresses of an IPv6 /64) buys no fresh buckets. Pure:
datagrams and explicit time."""

from __future__ import annotations

import pytest

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import Flooded, MessageIn, Output
from pigeon.proto.chat.messenger import Messenger
from pigeon.proto.chat.outgoing import Identity
from pigeon.proto.chat.peers import host_key
from pigeon.proto.chat.rate import HOST_LIMIT, NEWCOMER_SHARE, RATE_BURST, RATE_PER_SECOND, SETTLE

RATE, BURST = 10.0, 20.0
SHARED = NEWCOMER_SHARE * BURST


def make(*, rate: float = RATE_PER_SECOND, burst: float = RATE_BURST) -> Messenger:
    ident = Identity(user="bob", host="pc", nick="bob", version="1_test")
    return Messenger(ident, first_packet_no=1000, rate=rate, burst=burst)


def shown(outputs: list[Output]) -> int:
    return sum(isinstance(o, MessageIn) for o in outputs)


def floods(outputs: list[Output]) -> list[Flooded]:
    return [o for o in outputs if isinstance(o, Flooded)]


def entry(number: int, nick: str) -> bytes:
    return b"1_x:%d:%s:pc:%d:%s\0\0" % (number, nick.encode(), ipmsg.BR_ENTRY, nick.encode())


def v6(host: int, prefix: str = "2001:db8:1:2") -> str:
    """Address ``host`` (the low 64 bits) of the /64 ``prefix``."""
    groups = ":".join(f"{host >> shift & 0xFFFF:x}" for shift in (48, 32, 16, 0))
    return f"{prefix}:{groups}"


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("10.0.0.66", "10.0.0.66"),
        ("::ffff:10.0.0.66", "10.0.0.66"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
        ("2001:db8:1:2::1", "2001:db8:1:2::1"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("not-an-ip", "not-an-ip"),
        ("bad:v6::x", "bad:v6::x"),
    ],
)
def test_host_key(ip: str, key: str) -> None:
    assert host_key(ip) == key


def test_addresses_of_one_ipv6_64_rotating_get_only_the_shared_rate() -> None:
    """A sender picking a new address of its /64 for each datagram is a crowd of newcomers:
    together they get the shared bucket, not 100 fresh ones of 20."""
    bob = make(rate=RATE, burst=BURST)
    outs = [bob.receive(b"spam", (v6(i), 2425), 0.0) for i in range(1, 101)]
    assert sum(map(shown, outs)) == SHARED
    assert [f.host for out in outs for f in floods(out)] == [""]
    # a settled peer of the same /64 keeps its own bucket
    settled = make(rate=RATE, burst=BURST)
    settled.receive(b"hi", (v6(1), 2425), 0.0)
    later = SETTLE + 1.0
    assert shown(settled.receive(b"still here", (v6(1), 2425), later)) == 1


def test_ipv4_mapped_and_plain_ipv4_are_one_host() -> None:
    bob = make(rate=RATE, burst=BURST)
    outs = [
        bob.receive(b"x", (ip, 2425), 0.0)
        for _ in range(15)
        for ip in ("10.0.0.66", "::ffff:10.0.0.66")
    ]
    assert sum(map(shown, outs)) == BURST
    [report] = [f for out in outs for f in floods(out)]
    assert report.host == "10.0.0.66"


def test_peers_of_one_ipv6_lan_are_hosts_of_their_own() -> None:
    """On a LAN every IPv6 peer shares the link's /64: 40 of them are 40 hosts, all listed."""
    bob = make()
    for i in range(1, 41):
        bob.receive(entry(i, f"n{i}"), (v6(i), 2425), 0.5 * i)
    assert len([p for p in bob.peers() if p.name.startswith("n")]) == 40


def test_rotating_more_addresses_than_the_table_holds_gets_only_the_shared_rate() -> None:
    """Each new address used to find a full bucket (its old one evicted): the limit gone."""
    bob = make(rate=RATE, burst=BURST)
    admitted = reports = 0
    seconds, count = 10.0, 5 * HOST_LIMIT
    for i in range(count):  # 5,120 IPv4 addresses, three datagrams each
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        for _ in range(3):
            out = bob.receive(b"spam", (ip, 4000), seconds * i / count)
            admitted += shown(out)
            reports += sum(1 for f in floods(out) if f.host == "")
    assert admitted <= SHARED + NEWCOMER_SHARE * RATE * seconds
    assert bob.dropped == 3 * count - admitted and reports >= 1


def test_rotating_ipv6_prefixes_gets_only_the_shared_rate_too() -> None:
    bob = make(rate=RATE, burst=BURST)
    admitted = sum(
        shown(bob.receive(b"spam", (f"2001:db8:{i >> 16 & 0xFFFF:x}:{i & 0xFFFF:x}::1", 1), 0.0))
        for i in range(3 * HOST_LIMIT)
    )
    assert admitted == SHARED


def test_a_settled_peer_is_served_during_a_flood_of_new_addresses() -> None:
    bob = make(rate=RATE, burst=BURST)
    friend = ("10.9.9.9", 2425)
    assert bob.receive(entry(1, "friend"), friend, 0.0)  # joined
    start = SETTLE + 1.0
    got = 0
    for i in range(20 * HOST_LIMIT):  # two seconds of addresses never seen before
        now = start + i / (10 * HOST_LIMIT)
        bob.receive(b"spam", (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 4000), now)
        if i % 1000 == 0:
            got += shown(bob.receive(b"still here %d" % i, friend, now))
    assert got == len(
        range(0, 20 * HOST_LIMIT, 1000)
    )  # every one: its own bucket, not the shared one
    assert [p.name for p in bob.find("friend")] == ["friend"]  # not pushed out of the table


def test_one_flooding_newcomer_cannot_starve_another() -> None:
    bob = make(rate=RATE, burst=BURST)
    other = 0
    for i in range(2000):  # one new host at full speed for two seconds
        now = i / 1000
        bob.receive(b"spam", ("10.0.0.66", 5000 + i % 100), now)
        if i % 100 == 50:
            other += shown(bob.receive(b"hello", (f"10.0.1.{i // 100}", 2425), now))
    assert other == 20
    assert {f.host for f in floods(bob.receive(b"spam", ("10.0.0.66", 1), 10.0))} <= {"10.0.0.66"}


def test_a_settled_host_no_longer_draws_from_the_shared_bucket() -> None:
    bob = make(rate=RATE, burst=BURST)
    bob.receive(b"first", ("10.0.0.1", 1), 0.0)
    # the shared bucket emptied by newcomers
    for i in range(int(SHARED) + 50):
        bob.receive(b"x", (f"10.1.{i >> 8 & 255}.{i & 255}", 1), SETTLE)
    assert shown(bob.receive(b"new", ("10.2.0.1", 1), SETTLE)) == 0  # a newcomer waits
    admitted = sum(shown(bob.receive(b"m", ("10.0.0.1", 1), SETTLE)) for _ in range(30))
    assert admitted == BURST  # the settled host: its own full bucket


def test_several_chats_on_one_address_at_human_rates() -> None:
    bob = make()
    chats = [("127.0.0.1", 3000 + n) for n in range(8)]
    for n, addr in enumerate(chats):
        assert bob.receive(entry(n + 1, f"c{n}"), addr, 0.01 * n)
    sent = 0
    for second in range(30):
        for n, addr in enumerate(chats):
            data = b"1_x:%d:u:pc:%d:hi %d\0" % (100 + second, ipmsg.SENDMSG, second)
            sent += shown(bob.receive(data, addr, 1.0 + second + 0.01 * n))
    assert sent == 30 * len(chats) and bob.dropped == 0
    assert sorted(p.name for p in bob.peers()) == sorted(f"c{n}" for n in range(8))
