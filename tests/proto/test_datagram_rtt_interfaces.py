"""Datagram size limits, ping statistics, interface parsing and the LAN address choice."""

from __future__ import annotations

import pytest

from pigeon.errors import DatagramTooLong
from pigeon.proto.datagram import (
    MAX_UDP_PAYLOAD_IPV4,
    MAX_UDP_PAYLOAD_IPV6,
    check_payload_size,
)
from pigeon.proto.interfaces import (
    Interface,
    InterfaceAddress,
    broadcast_for,
    default_route_ifaces_v4,
    default_route_ifaces_v6,
    lan_address,
    prefix_from_netmask,
    reachable_addresses,
)
from pigeon.proto.rtt import summarize


def test_datagram_limits_per_family() -> None:
    check_payload_size(MAX_UDP_PAYLOAD_IPV4, ipv6=False)
    check_payload_size(MAX_UDP_PAYLOAD_IPV6, ipv6=True)
    with pytest.raises(DatagramTooLong, match="at most 65507 bytes"):
        check_payload_size(MAX_UDP_PAYLOAD_IPV4 + 1, ipv6=False)
    with pytest.raises(DatagramTooLong, match="at most 65527 bytes"):
        check_payload_size(MAX_UDP_PAYLOAD_IPV6 + 1, ipv6=True)


def test_rtt_summary() -> None:
    s = summarize(4, [1.0, 2.0, 3.0])
    assert (s.sent, s.answered, s.min_ms, s.avg_ms, s.max_ms) == (4, 3, 1.0, 2.0, 3.0)
    assert s.mdev_ms == pytest.approx(0.8165, abs=1e-4)
    assert s.loss_percent == 25.0
    empty = summarize(2, [])
    assert empty.answered == 0 and empty.avg_ms is None and empty.loss_percent == 100.0
    assert summarize(0, []).loss_percent == 0.0


@pytest.mark.parametrize(
    ("mask", "ipv6", "prefix"),
    [
        ("255.255.255.0", False, 24),
        ("255.255.255.255", False, 32),
        ("ffff:ffff:ffff:ffff::", True, 64),
        (None, True, 128),
        ("255.0.255.0", False, 32),
        ("garbage", False, 32),
    ],
)
def test_prefix_from_netmask(mask: str | None, ipv6: bool, prefix: int) -> None:
    assert prefix_from_netmask(mask, ipv6=ipv6) == prefix


def test_broadcast_for() -> None:
    assert broadcast_for("192.168.1.103", 24) == "192.168.1.255"
    assert broadcast_for("10.1.2.3", 8) == "10.255.255.255"
    assert broadcast_for("10.0.0.1", 31) is None


ROUTE_V4 = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
ROUTE_V6 = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
)


def test_default_route_parsing() -> None:
    assert default_route_ifaces_v4(ROUTE_V4) == {"eth0"}
    assert default_route_ifaces_v4("") == set()
    assert default_route_ifaces_v6(ROUTE_V6) == {"eth1"}


def _iface(
    name: str, *addrs: InterfaceAddress, up: bool = True, default: bool = False
) -> Interface:
    return Interface(name, up, 1500, addrs, default)


def test_lan_address_prefers_ipv4_on_the_default_route() -> None:
    lo = _iface("lo", InterfaceAddress("ipv4", "127.0.0.1", 8))
    docker = _iface("docker0", InterfaceAddress("ipv4", "172.17.0.1", 16))
    eth = _iface(
        "eth0",
        InterfaceAddress("ipv6", "fe80::1%eth0", 64),
        InterfaceAddress("ipv6", "fd00::2", 64),
        InterfaceAddress("ipv4", "192.168.1.7", 24, "192.168.1.255"),
        default=True,
    )
    assert lan_address([lo, docker, eth]) == "192.168.1.7"
    assert reachable_addresses([lo, docker, eth]) == ["192.168.1.7", "172.17.0.1", "fd00::2"]


def test_lan_address_fallbacks() -> None:
    down = _iface("eth0", InterfaceAddress("ipv4", "10.0.0.5", 24), up=False, default=True)
    other = _iface("eth1", InterfaceAddress("ipv4", "10.9.0.5", 24))
    assert lan_address([down, other]) == "10.9.0.5"
    v6only = _iface("eth0", InterfaceAddress("ipv6", "2001:db8::5", 64), default=True)
    assert lan_address([v6only]) == "2001:db8::5"
    assert lan_address([_iface("lo", InterfaceAddress("ipv4", "127.0.0.1", 8))]) is None
