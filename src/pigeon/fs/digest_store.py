"""Digests of served files kept on disk (sqlite3), so they survive a restart of pigeon serve.

Keyed by the whole file version (device, inode, size, mtime_ns, ctime_ns; see ``fs.digests``):
an entry for a file that changed since is never found, because its ctime moved. What may be
stored is decided by ``DigestCache`` (settled files only). The file is a cache: when it
cannot be opened, read or written (corrupt, another format, a read-only disk) the store turns
itself off, says so once through ``on_failure``, and pigeon serves on without it. Another
process writing at the same moment only makes a write be skipped. At most ``MAX_ROWS`` rows
are kept; the oldest go first.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pigeon.proto.versions import Version

MAX_ROWS = 100_000
PRUNE_EVERY = 1000
FILE_NAME = "digests.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sha256 "
    "(version TEXT PRIMARY KEY, digest BLOB NOT NULL, stored INTEGER NOT NULL)"
)


def default_path(env: Mapping[str, str] = os.environ) -> Path | None:
    """``$XDG_CACHE_HOME/pigeon/digests.sqlite3`` (default ``~/.cache``), None without a home."""
    base = env.get("XDG_CACHE_HOME", "")
    if not base or not Path(base).is_absolute():
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "pigeon" / FILE_NAME


def _text(key: Version) -> str:
    return ":".join(str(n) for n in key)


class DigestStore:
    """A sqlite3 table from file version to SHA-256; every failure turns it off, never raises."""

    def __init__(self, path: str | Path, on_failure: Callable[[str], None]) -> None:
        self.path = Path(path)
        self.on_failure = on_failure
        self._db: sqlite3.Connection | None = None
        self._puts = 0
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=0.2, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            self._fail(exc)
            return
        self._db = db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a lost digest is recomputed: no fsync
            db.execute(_SCHEMA)
            db.execute("SELECT digest FROM sha256 LIMIT 1").fetchall()
            self._prune()
        except sqlite3.Error as exc:
            self._fail(exc)

    @property
    def working(self) -> bool:
        """False once the store turned itself off."""
        return self._db is not None

    def get(self, key: Version) -> bytes | None:
        """The stored digest of ``key``, or None."""
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT digest FROM sha256 WHERE version = ?", (_text(key),)
            ).fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != 32:
            return None
        return row[0]

    def put(self, key: Version, digest: bytes) -> None:
        """Store a digest (skipped when another process holds the lock)."""
        if self._db is None:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO sha256 VALUES (?, ?, ?)",
                (_text(key), digest, int(time.time())),
            )
            self._puts += 1
            if self._puts % PRUNE_EVERY == 0:
                self._prune()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                self._fail(exc)
        except sqlite3.Error as exc:
            self._fail(exc)

    def _prune(self) -> None:
        assert self._db is not None
        (count,) = self._db.execute("SELECT count(*) FROM sha256").fetchone()
        if count > MAX_ROWS:
            self._db.execute(
                "DELETE FROM sha256 WHERE version IN "
                "(SELECT version FROM sha256 ORDER BY rowid LIMIT ?)",
                (count - MAX_ROWS,),
            )

    def _fail(self, exc: BaseException) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.on_failure(f"digest cache {self.path}: {reason}; serving without it")

    def close(self) -> None:
        """Close the database (the store is off afterwards)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
