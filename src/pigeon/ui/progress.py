"""Progress of transfers: rich rows on a terminal (stderr), JSON events, or nothing.

One ``TransferDisplay`` serves a whole command: each file gets its own row (``-r`` shows one
row per file). With ``--json`` it prints throttled ``progress`` events on stdout instead.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

Progress = Callable[[int, int | None], None]
JSON_INTERVAL = 0.5


class TransferDisplay:
    """Context manager handing out one progress callback per file."""

    def __init__(self, *, json_output: bool, quiet: bool) -> None:
        self.json_output = json_output
        self.bars = not quiet and not json_output and sys.stderr.isatty()
        self._rich: Any = None

    def __enter__(self) -> TransferDisplay:
        if self.bars:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                "[bold]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            self._rich.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rich is not None:
            self._rich.__exit__(kind, exc, tb)

    def for_file(self, name: str) -> Progress | None:
        """A callback for one file, or None when nothing is shown."""
        if self._rich is not None:
            task = self._rich.add_task(name or "download", total=None)
            rich = self._rich

            def update_bar(done: int, total: int | None) -> None:
                rich.update(task, completed=done, total=total)

            return update_bar
        if self.json_output:
            last = [0.0]

            def update_json(done: int, total: int | None) -> None:
                now = time.monotonic()
                if now - last[0] >= JSON_INTERVAL or done == total:
                    last[0] = now
                    event = {"type": "progress", "name": name, "bytes": done, "total": total}
                    print(json.dumps(event, ensure_ascii=False), flush=True)

            return update_json
        return None
