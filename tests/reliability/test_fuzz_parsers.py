"""Every sans-I/O parser fed 10,000 generated inputs: only pigeon's own typed errors escape.

(The quick per-module property tests in tests/proto use fewer examples; these are the long
runs the reliability issue asks for. The atheris harness in fuzz/ runs the same targets
open-ended: ``python fuzz/run.py TARGET``.)
"""

from __future__ import annotations

import pytest
from fuzz.targets import TARGETS
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
