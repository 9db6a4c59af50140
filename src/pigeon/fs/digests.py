"""SHA-256 digests of served files, computed once per file version and cached.

The key is (device, inode, size, mtime_ns): a changed file is a new key, so a stale digest
is never served; a repeat request costs a dictionary lookup. The cache is bounded (LRU).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

READ_CHUNK = 1 << 20
DigestKey = tuple[int, int, int, int]


def digest_key(st: os.stat_result) -> DigestKey:
    """The cache key of a file version."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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


class DigestCache:
    """A bounded map from file version to SHA-256."""

    def __init__(self, limit: int = 4096) -> None:
        self._items: OrderedDict[DigestKey, bytes] = OrderedDict()
        self.limit = limit
        self.computed = 0

    def get(self, key: DigestKey) -> bytes | None:
        """The cached digest, refreshing its place."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: DigestKey, digest: bytes) -> None:
        """Remember a digest, evicting the least recently used beyond the limit."""
        self.computed += 1
        self._items[key] = digest
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
