"""``pigeon send`` one-shots in a tight loop from one port: each shown exactly once, each exit 0.

Every one-shot is a new process on the same address and port, so the receiver must tell a new
message from a retransmission even when two processes start within the same second (IP
Messenger's packet numbers start from the clock second). Loopback only, ``--no-broadcast``.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.chat_helpers import chat_peer, events, of_type, udp_port, wait_events
from tests.helpers import Background, run_pigeon
from tests.udp_faults import udp_relay

SENDS = 50
PATIENCE = ["--timeout", "15"]
"""20 sends of 0.75 s: through 30% loss each way one fails with probability 0.51**20 < 2e-6."""


def _send_all(port: int, to: str, texts: list[str]) -> list[int]:
    """Each text by its own ``pigeon send`` process from ``port``, one after the other;
    returns how many sends each took to be acknowledged."""
    tries = []
    for text in texts:
        result = run_pigeon(
            ["send", "--no-broadcast", "--json", "--port", str(port), to, text, *PATIENCE]
        )
        assert result.returncode == 0, (text, result.stdout, result.stderr)
        out = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["type"] for e in out] == ["sent", "delivered"], (text, result.stdout)
        tries.append(int(out[1]["tries"]))
    return tries


def _shown_once_each(receiver: Background, texts: list[str], sender: str) -> None:
    wait_events(receiver, of_type("message"), count=len(texts), timeout=30)
    time.sleep(0.5)  # time for a late duplicate (the relay holds reordered ones 50 ms) to show
    shown = [e for e in events(receiver) if e.get("type") == "message"]
    counts = Counter(str(e["text"]) for e in shown)
    assert counts == Counter(texts), sorted(counts.items())  # each once: none lost, none twice
    assert {e["from"] for e in shown} == {sender}  # all from the one port (none moved aside)


def test_one_shots_from_one_port_are_each_shown_exactly_once() -> None:
    sender, receiver = udp_port(), udp_port()
    texts = [f"one-shot {i}" for i in range(SENDS)]
    with chat_peer(receiver, "bob") as bob:
        started = time.monotonic()
        tries = _send_all(sender, f"127.0.0.1:{receiver}", texts)
        elapsed = time.monotonic() - started
        _shown_once_each(bob, texts, f"127.0.0.1:{sender}")
    # many of them started within the same second as the one before: the case that was lost
    assert elapsed < SENDS * 1.0, elapsed
    print(f"{SENDS} one-shots in {elapsed:.1f} s; tries per send: {sorted(Counter(tries).items())}")


@pytest.mark.slow  # about 45 s: a lost datagram costs `pigeon send` its 0.75 s retry interval
def test_one_shots_through_a_lossy_relay_are_each_shown_exactly_once() -> None:
    sender, receiver = udp_port(), udp_port()
    texts = [f"lossy {i}" for i in range(SENDS)]
    with (
        udp_relay(
            ("127.0.0.1", sender),
            ("127.0.0.1", receiver),
            seed=15,
            drop=0.3,
            duplicate=0.2,
            reorder=0.2,
        ) as relay,
        chat_peer(receiver, "bob") as bob,
    ):
        tries = _send_all(sender, f"127.0.0.1:{relay.for_a}", texts)
        _shown_once_each(bob, texts, f"127.0.0.1:{relay.for_b}")
    # the relay really was hostile, and the one-shots really retransmitted
    assert relay.stats.dropped > 10 and relay.stats.duplicated > 5 and relay.stats.reordered > 5
    assert sum(t > 1 for t in tries) > 5, tries
    print(f"tries per send: {sorted(Counter(tries).items())}; relay: {relay.stats}")
