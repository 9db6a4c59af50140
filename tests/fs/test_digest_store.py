"""fs.digest_store: digests on disk, and a cache file that can fail without harming anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pigeon.fs import digest_store
from pigeon.fs.digest_store import DigestStore, default_path
from pigeon.fs.digests import DigestCache

KEY = (2049, 123456, 1 << 30, 1_700_000_000_123_456_789, 1_700_000_000_987_654_321)
DIGEST = bytes(range(32))


def test_digests_outlive_the_store(tmp_path: Path) -> None:
    failures: list[str] = []
    path = tmp_path / "sub" / "digests.sqlite3"
    store = DigestStore(path, failures.append)
    store.put(KEY, DIGEST)
    store.close()
    again = DigestStore(path, failures.append)
    assert again.get(KEY) == DIGEST
    assert again.get((*KEY[:4], KEY[4] + 1)) is None  # another ctime: another version
    assert failures == [] and (path.parent.stat().st_mode & 0o777) == 0o700
    big = (2**64 - 1, 2**64 - 2, 0, -1, 0)  # inode numbers beyond int64, times before 1970
    again.put(big, DIGEST)
    assert again.get(big) == DIGEST


def test_a_cache_read_through_from_disk(tmp_path: Path) -> None:
    store = DigestStore(tmp_path / "d.sqlite3", lambda _text: None)
    store.put(KEY, DIGEST)
    assert DigestCache(store=store).get(KEY) == DIGEST


@pytest.mark.parametrize(
    "content", [b"this is not a database\n" * 300, b"SQLite format 3\x00" + os.urandom(5000)]
)
def test_a_corrupt_file_is_one_failure_then_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "digests.sqlite3"
    path.write_bytes(content)
    failures: list[str] = []
    store = DigestStore(path, failures.append)
    assert not store.working
    assert store.get(KEY) is None
    store.put(KEY, DIGEST)
    assert len(failures) == 1 and "serving without it" in failures[0]
    assert path.read_bytes() == content  # left as found


def test_a_place_that_cannot_hold_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    failures: list[str] = []
    store = DigestStore(tmp_path / "file" / "digests.sqlite3", failures.append)
    assert not store.working and store.get(KEY) is None and len(failures) == 1


def test_the_oldest_rows_go_beyond_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest_store, "MAX_ROWS", 5)
    monkeypatch.setattr(digest_store, "PRUNE_EVERY", 10)
    store = DigestStore(tmp_path / "d.sqlite3", lambda _text: None)
    for i in range(10):
        store.put((0, i, 0, 0, 0), DIGEST)
    assert [i for i in range(10) if store.get((0, i, 0, 0, 0)) is not None] == [5, 6, 7, 8, 9]


def test_default_path_follows_xdg() -> None:
    assert default_path({"XDG_CACHE_HOME": "/var/cache/me"}) == Path(
        "/var/cache/me/pigeon/digests.sqlite3"
    )
    relative = default_path({"XDG_CACHE_HOME": "relative"})  # not absolute: ignored (XDG spec)
    assert relative is not None and relative.parts[-3:] == (".cache", "pigeon", "digests.sqlite3")
