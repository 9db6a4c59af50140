"""The messenger's outputs are immutable tuples equal only to their own kind."""

from __future__ import annotations

import pytest

from pigeon.proto.chat.events import (
    Delivered,
    Flooded,
    MessageIn,
    NotDelivered,
    PeerChange,
    PeerChanged,
    PeerInfo,
    Transmit,
)

PEER = PeerInfo(("10.0.0.2", 2425), "bob", "bob", "pc", "", "1_x", "utf-8", False)


def equal(a: object, b: object) -> tuple[bool, bool]:
    """``a == b`` and ``a != b`` (objects: mypy would refuse comparing other kinds)."""
    return a == b, a != b


def test_an_outcome_equals_only_the_same_kind_of_outcome() -> None:
    assert equal(Delivered(1, PEER, 1), Delivered(1, PEER, 1)) == (True, False)
    assert equal(Delivered(1, PEER, 1), NotDelivered(1, PEER, 1)) == (False, True)
    assert equal(Delivered(1, PEER, 1), Delivered(2, PEER, 1)) == (False, True)


def test_an_output_is_no_bare_tuple_of_its_values() -> None:
    assert equal(Transmit(b"x", ("10.0.0.2", 1)), (b"x", ("10.0.0.2", 1))) == (False, True)
    assert equal(Flooded("", 3), ("", 3)) == (False, True)


def test_outputs_hash_by_value_within_their_kind() -> None:
    assert len({Flooded("10.0.0.9", 1), Flooded("10.0.0.9", 1), Flooded("10.0.0.9", 2)}) == 2
    assert hash(PeerChanged(PEER, PeerChange.LEFT)) == hash(PeerChanged(PEER, PeerChange.LEFT))


def test_outputs_cannot_be_changed() -> None:
    message = MessageIn(PEER, "hi", "utf-8", False)
    with pytest.raises(AttributeError):
        message.text = "changed"  # type: ignore[misc]  # what the test checks
    with pytest.raises(AttributeError):
        PEER.name = "changed"  # type: ignore[misc]  # frozen dataclass: refused too
