"""One version of a file, as the file system tells it, and when a version is settled enough
that facts learnt from it (a digest, a remembered answer) may be kept."""

from __future__ import annotations

Version = tuple[int, int, int, int, int]
"""(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of a regular file."""


def settled(mtime_ns: int, ctime_ns: int, now: float, margin: float) -> bool:
    """Whether a file last changed at least ``margin`` seconds before ``now`` (epoch seconds).

    ``margin`` must be at least the file system's timestamp granularity (2 s on FAT).
    """
    newest = max(mtime_ns, ctime_ns) / 1e9
    return now - newest >= margin
