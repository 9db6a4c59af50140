"""Progress of transfers: rich rows on a terminal (stderr), JSON events, or nothing.

One ``TransferDisplay`` serves a whole command: each file gets its own row (``-r`` shows one
row per file). With ``--json`` it prints throttled ``progress`` events on stdout instead.
Sizes and speeds are ``proto.text.format_size``'s binary units (rich's own columns say MB).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pigeon.events import DownloadResult
from pigeon.proto.text import format_size, plural
from pigeon.ui.report import json_line

Progress = Callable[[int, int | None], None]
JSON_INTERVAL = 0.5


class TransferDisplay:
    """Context manager handing out one progress callback per file."""

    def __init__(self, *, json_output: bool, quiet: bool, bars: bool = True) -> None:
        """``quiet`` shows nothing (``--json -q``: no progress events either); ``bars=False``
        keeps the terminal for something else, as ``-o -`` there does for the body."""
        self.json_output = json_output and not quiet
        self.bars = bars and not quiet and not json_output and sys.stderr.isatty()
        self._rich: Any = None

    def __enter__(self) -> TransferDisplay:
        if self.bars:
            from rich.console import Console
            from rich.progress import BarColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                "[bold]{task.description}",
                BarColumn(),
                _size_column(),
                TimeRemainingColumn(),
                # rich's default console is stdout, where the body may be going (-o - | tar)
                console=Console(stderr=True),
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


def show_result(
    url: str, where: str, result: DownloadResult, *, json_output: bool, quiet: bool
) -> None:
    """The closing line of one download saved at ``where``: a ``result`` object on stdout
    (exact bytes) with ``json_output``, else a line on stderr unless ``quiet``."""
    if json_output:
        record = {
            "type": "result",
            "url": url,
            "path": where,
            "bytes": result.bytes,
            "sha256": result.digest,
            "resumed_from": result.resumed_from,
            "verified": result.verified,
            "already_here": result.already_here,
        }
        print(json_line(record), flush=True)  # each as it lands, also into a pipe
    elif not quiet:
        print(result_text(where, result), file=sys.stderr)


def result_text(where: str, result: DownloadResult) -> str:
    """One download's closing line. A file found already here and identical was compared by
    SHA-256 with what the server sent, or with its announced digest (``verified``)."""
    size = format_size(result.bytes)
    if result.already_here:
        how = "sha256 verified" if result.verified else "the server offered no digest"
        return f"{where}: {size}, already here and identical (kept; {how})"
    check = "sha256 verified" if result.verified else "not verified: no digest offered"
    return f"{where}: {size}, {check}"


def _checked(files: int, verified: int) -> str:
    """How many of ``files`` were checked against the server's SHA-256 (an HTML listing
    offers no digest: such files are never called verified)."""
    if not files:
        return ""
    if verified == files:
        return ", all sha256-verified"
    if not verified:
        return ", none sha256-verified (the server offered no digests)"
    return f", {verified:,} of them sha256-verified (the server offered no digest for the rest)"


def mirror_interrupted(
    kept: int, verified: int, already: int, dest: str, *, why: str = "interrupted"
) -> str:
    """The line for a mirror stopped before its end (Ctrl-C, or ``why``): what stays (and how
    much of it was checked), and how to go on."""
    there = f"; {already:,} already there" if already else ""
    return (
        f"{why}: {plural(kept, 'file')} kept in {dest}{_checked(kept, verified)}{there}; "
        "the same command fetches the rest"
    )


def download_interrupted(part: str, size: int, starts_over: str | None) -> str:
    """The line for one download stopped by Ctrl-C with its ``.part`` kept: whether the same
    command continues it (the next run's own check), or why it starts over."""
    kept = f"interrupted: {part} kept ({format_size(size)})"
    if starts_over is None:
        how = "if the server can (same file, byte ranges)"
        return f"{kept}; the same command continues from there {how}"
    return f"{kept}; the same command starts over ({starts_over})"


def mirror_done(fetched: int, verified: int, identical: int, dest: str) -> str:
    """The closing line of a whole mirror: the files it fetched (and how many of them were
    checked), and those already here and identical."""
    there = f"; {identical:,} already here and identical" if identical else ""
    checked = _checked(fetched, verified)
    return f"mirrored into {dest}: {plural(fetched, 'file')} fetched{checked}{there}"


def transfer_text(done: int, total: int | None, speed: float | None) -> str:
    """``1.5 MiB / 12.0 MiB  800.0 KiB/s``: what a progress row says beside its bar."""
    of = f" / {format_size(total)}" if total is not None else ""
    rate = f"  {format_size(speed)}/s" if speed else ""
    return f"{format_size(done)}{of}{rate}"


def _size_column() -> Any:
    """A rich column showing ``transfer_text`` (rich is imported only when bars are shown)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class SizeColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = int(task.total) if task.total is not None else None
            speed = task.finished_speed or task.speed
            return Text(transfer_text(int(task.completed), total, speed), style="progress.download")

    return SizeColumn()
