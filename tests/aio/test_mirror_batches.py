"""The mirror's batch commit: every verified file held for a batch takes its final name, also
when the mirror ends while a batch is being synced."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from pigeon.aio import mirror
from pigeon.aio.get import DownloadResult
from pigeon.aio.mirror import BatchCommit, MirrorOutcome
from pigeon.fs.partfile import PartFile


async def _hold(commits: BatchCommit, final: Path) -> None:
    part = PartFile(final)
    part.claim()
    part.open(resume=False)
    part.write(final.name.encode())
    await commits.add(part, None)
    digest = hashlib.sha256(final.name.encode()).hexdigest()
    commits.settle(
        f"http://x/{final.name}", DownloadResult(final, len(final.name), digest, 0, True)
    )


@pytest.fixture
def syncing(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """A slow disk: every ``os.sync`` takes 0.3 s; the event is set once one has begun."""
    began = threading.Event()

    def slow_sync() -> None:
        began.set()
        time.sleep(0.3)

    monkeypatch.setattr(os, "sync", slow_sync)
    return began


async def test_a_batch_being_synced_when_the_mirror_ends_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncing: threading.Event
) -> None:
    monkeypatch.setattr(mirror, "BATCH_FILES", 4)
    outcome = MirrorOutcome()
    commits = BatchCommit(outcome)
    for n in range(4):  # a full batch: its sync starts at once
        await _hold(commits, tmp_path / f"a{n}.txt")
    assert await asyncio.to_thread(syncing.wait, 5)
    for n in range(2):  # the rest of the mirror, while that batch is syncing
        await _hold(commits, tmp_path / f"b{n}.txt")
    await commits.finish()
    names = sorted(p.name for p in tmp_path.iterdir())  # noqa: ASYNC240 (a test, after the loop work)
    assert names == ["a0.txt", "a1.txt", "a2.txt", "a3.txt", "b0.txt", "b1.txt"]
    assert len(outcome.results) == 6
    assert not outcome.failures
    assert (tmp_path / "a2.txt").read_bytes() == b"a2.txt"


async def test_a_cancelled_finish_commits_what_is_held_and_stays_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncing: threading.Event
) -> None:
    monkeypatch.setattr(mirror, "BATCH_FILES", 2)
    outcome = MirrorOutcome()
    commits = BatchCommit(outcome)
    for n in range(2):
        await _hold(commits, tmp_path / f"a{n}.txt")
    assert await asyncio.to_thread(syncing.wait, 5)
    await _hold(commits, tmp_path / "b.txt")
    ending = asyncio.create_task(commits.finish())
    await asyncio.sleep(0.05)
    ending.cancel()  # e.g. a caller's asyncio.timeout around the mirror
    with pytest.raises(asyncio.CancelledError):
        await ending
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0.txt", "a1.txt", "b.txt"]  # noqa: ASYNC240
    assert len(outcome.results) == 3
