"""Size limits of a single UDP datagram, checked before anything is sent."""

from __future__ import annotations

from pigeon.errors import DatagramTooLong

MAX_UDP_PAYLOAD_IPV4 = 65_507
"""65,535 (IPv4 total length) minus the 20-byte IP header and the 8-byte UDP header."""

MAX_UDP_PAYLOAD_IPV6 = 65_527
"""65,535 (IPv6 payload length) minus the 8-byte UDP header; jumbograms are not used."""

RECV_BUFFER = 65_535
"""Receive size: never smaller than the largest datagram, so nothing is silently truncated."""


def max_payload(*, ipv6: bool) -> int:
    """The largest UDP payload for the address family."""
    return MAX_UDP_PAYLOAD_IPV6 if ipv6 else MAX_UDP_PAYLOAD_IPV4


def check_payload_size(size: int, *, ipv6: bool) -> None:
    """Raise DatagramTooLong when ``size`` bytes do not fit in one datagram."""
    limit = max_payload(ipv6=ipv6)
    if size > limit:
        family = "IPv6" if ipv6 else "IPv4"
        raise DatagramTooLong(
            f"datagram of {size} bytes is too long: one UDP datagram over {family} "
            f"carries at most {limit} bytes"
        )
