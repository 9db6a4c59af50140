"""Every sans-I/O parser fed 10,000 generated inputs: only pigeon's own typed errors escape.

(The quick per-module property tests in tests/proto use fewer examples; these are the long
runs the reliability issue asks for. The atheris harness in fuzz/ runs the same targets
open-ended: ``python fuzz/run.py TARGET``.)
"""

from __future__ import annotations

import pytest
from fuzz.targets import TARGETS, header_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LONG = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_survives_10000_inputs(name: str) -> None:
    target = TARGETS[name]

    @LONG
    @given(st.binary(max_size=512))
    def run(data: bytes) -> None:
        target(data)

    run()


def test_messenger_survives_ipmsg_shaped_input() -> None:
    """Mostly well-formed headers with hostile fields reach deeper code than random bytes."""
    target = TARGETS["messenger"]
    fields = st.binary(max_size=40).map(lambda b: b.replace(b":", b""))

    @LONG
    @given(
        st.integers(0, 10**12),
        fields,
        fields,
        st.sampled_from([0, 1, 2, 3, 4, 0x20, 0x21, 0x30, 0x40, 0x60, 0x61, 0x62, 0x79, 0xD1]),
        st.integers(0, 0xFFFFFF).map(lambda x: x << 8),
        st.binary(max_size=300),
    )
    def run(no: int, user: bytes, host: bytes, mode: int, options: int, extra: bytes) -> None:
        target(b"1_fuzz:%d:%s:%s:%d:%s" % (no, user, host, mode | options, extra))

    run()


HEADER_PIECES = [
    "bytes=",
    "bytes ",
    "-",
    "/",
    "*",
    ",",
    " ",
    "0",
    "9",
    "²",
    "١",
    "f",
    "=",
    ":",
    '"',
    "W/",
    "sha-256=:",
    "http://",
    "//",
    "127.0.0.1",
    "\x00",
    "\x1b",
    "é",
    "GMT",
]


def test_header_values_of_realistic_and_oversized_lengths() -> None:
    """Every header parser, both sides, fed values up to 80 KB: a run of one piece (digits,
    hex, separators) between realistic fragments — 5,000 digits is Python's int limit."""

    @settings(max_examples=3_000, deadline=None, database=None)
    @given(
        st.lists(st.sampled_from(HEADER_PIECES), max_size=8).map("".join),
        st.sampled_from(HEADER_PIECES),
        st.sampled_from([0, 1, 19, 20, 4_300, 4_301, 5_000, 20_000, 80_000]),
        st.lists(st.sampled_from(HEADER_PIECES), max_size=8).map("".join),
    )
    def run(head: str, piece: str, repeat: int, tail: str) -> None:
        header_value(head + piece * (repeat // max(1, len(piece))) + tail)

    run()
