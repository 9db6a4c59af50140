"""SHA-256 digests of served files: what is known, keyed by file version, and how to compute it.

A file version is (device, inode, size, mtime_ns, ctime_ns). Every change to a file's content
or metadata sets its ctime to the current time, so a changed file is a new key and a stale
digest is never served. ``DigestCache`` keeps digests in a bounded LRU in memory and, when
given a ``DigestStore`` (``fs.digest_store``), on disk so they survive a restart.

Only digests of *settled* files are kept: files whose mtime and ctime were already
``DIGEST_SETTLED`` seconds old when their version was read (``proto.versions.settled``).
A file changed again within its file system's timestamp granularity (2 s on FAT) could
otherwise keep its version while its content moved on. The computation that knows a digest
for a file still being written uses it for the one answer it is computing, and forgets it.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Protocol

from pigeon.proto.versions import Version, settled

READ_CHUNK = 1 << 20
DIGEST_SETTLED = 2.0
"""Seconds a file must have been unchanged before its digest is kept (FAT's mtime step)."""
DigestKey = Version


def digest_key(st: os.stat_result) -> DigestKey:
    """The cache key of a file version."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_fd(fd: int, size: int) -> bytes:
    """SHA-256 of the first ``size`` bytes of ``fd`` read with pread (offset untouched)."""
    h = hashlib.sha256()
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(READ_CHUNK, size - offset), offset)
        if not chunk:
            break
        h.update(chunk)
        offset += len(chunk)
    return h.digest()


def sha256_path(path: str | os.PathLike[str]) -> bytes:
    """SHA-256 of the local file at ``path``, as long as it was when opened."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return sha256_fd(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def keepable(key: DigestKey, observed: float) -> bool:
    """Whether the digest of ``key``, whose version was read at ``observed``, may be kept."""
    return settled(key[3], key[4], observed, DIGEST_SETTLED)


class Store(Protocol):
    """Where digests outlive the process (``fs.digest_store.DigestStore``)."""

    def get(self, key: DigestKey) -> bytes | None: ...

    def put(self, key: DigestKey, digest: bytes) -> None: ...

    def close(self) -> None: ...


class DigestCache:
    """A bounded map from file version to SHA-256, in memory and optionally on disk."""

    def __init__(self, limit: int = 4096, store: Store | None = None) -> None:
        self._items: OrderedDict[DigestKey, bytes] = OrderedDict()
        self.limit = limit
        self.store = store

    def get(self, key: DigestKey) -> bytes | None:
        """The known digest, refreshing its place (read through to the store)."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        if self.store is not None and (found := self.store.get(key)) is not None:
            self._remember(key, found)
        return found

    def put(self, key: DigestKey, digest: bytes, observed: float) -> bool:
        """Keep a digest whose version was read at ``observed`` (epoch seconds), if settled."""
        if not keepable(key, observed):
            return False
        self._remember(key, digest)
        if self.store is not None:
            self.store.put(key, digest)
        return True

    def _remember(self, key: DigestKey, digest: bytes) -> None:
        self._items[key] = digest
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
