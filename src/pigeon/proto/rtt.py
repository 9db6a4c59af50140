"""Round-trip statistics as ``ping`` prints them: min, avg, max and mean deviation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RttSummary:
    """Summary of a ping run; times in milliseconds, ``None`` when nothing answered."""

    sent: int
    answered: int
    min_ms: float | None
    avg_ms: float | None
    max_ms: float | None
    mdev_ms: float | None

    @property
    def loss_percent(self) -> float:
        """Share of probes with no answer, 0-100."""
        return 0.0 if self.sent == 0 else 100.0 * (self.sent - self.answered) / self.sent


def summarize(sent: int, rtts_ms: Sequence[float]) -> RttSummary:
    """Summarise ``rtts_ms`` (one entry per answered probe) out of ``sent`` probes."""
    if not rtts_ms:
        return RttSummary(sent, 0, None, None, None, None)
    avg = sum(rtts_ms) / len(rtts_ms)
    mdev = math.sqrt(sum((r - avg) ** 2 for r in rtts_ms) / len(rtts_ms))
    return RttSummary(sent, len(rtts_ms), min(rtts_ms), avg, max(rtts_ms), mdev)
