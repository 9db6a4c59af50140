"""How a chat peer's address reads: every form of the address grammar, port 2425 by default."""

from __future__ import annotations

import pytest

from pigeon.errors import InvalidAddress, InvalidPort
from pigeon.proto.address import Endpoint
from pigeon.proto.chat.commands import peer_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5", Endpoint("10.0.0.5", 2425)),
        ("10.0.0.5:2426", Endpoint("10.0.0.5", 2426)),
        ("::1", Endpoint("::1", 2425)),
        ("[::1]", Endpoint("::1", 2425)),
        ("[::1]:7000", Endpoint("::1", 7000)),
        ("fe80::1%eth0", Endpoint("fe80::1%eth0", 2425)),
        ("alice-pc", Endpoint("alice-pc", 2425)),
        ("alice-pc.lan:65535", Endpoint("alice-pc.lan", 65535)),
        (" 10.0.0.5:1 ", Endpoint("10.0.0.5", 1)),
    ],
)
def test_every_form_reads(text: str, expected: Endpoint) -> None:
    assert peer_address(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.5:0", "[::1]:0", "10.0.0.5:65536", "[::1]:x", "h:-1"])
def test_a_port_out_of_range_or_0_is_invalid_port(text: str) -> None:
    with pytest.raises(InvalidPort) as caught:
        peer_address(text)
    assert caught.value.exit_code == 3 and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["", "[::1", "[10.0.0.5]:1", "a b"])
def test_unreadable_addresses_are_invalid(text: str) -> None:
    with pytest.raises(InvalidAddress):
        peer_address(text)
