"""The confined root and the digest cache, on a real temporary tree."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import time
from pathlib import Path

import pytest

from pigeon.errors import UsageError
from pigeon.fs.digests import DigestCache, digest_key, sha256_fd
from pigeon.fs.root import (
    ConfinedRoot,
    Directory,
    NotFound,
    NotServed,
    OpenFile,
    Refused,
    content_type,
)
from tests.interop.serve_fixtures import make_tree


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    return make_tree(tmp_path)


def test_lookup_file_and_directory(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    confined = ConfinedRoot(root)
    found = confined.lookup(["small.txt"])
    assert isinstance(found, OpenFile) and found.st.st_size == 13
    assert os.pread(found.fd, 5, 0) == b"hello"
    found.close()
    assert isinstance(confined.lookup(["sub", "深"]), Directory)
    assert isinstance(confined.lookup([]), Directory)
    link = confined.lookup(["link-in"])  # a symlink that stays inside: served
    assert isinstance(link, OpenFile)
    link.close()


@pytest.mark.parametrize(
    ("segments", "outcome"),
    [
        (["missing"], NotFound),
        (["small.txt", "x"], NotFound),
        (["link-out"], Refused),
        (["dir-out", "secret.txt"], Refused),
        (["fifo"], Refused),
        ([".hidden"], NotFound),
    ],
)
def test_lookup_refusals(
    tree: tuple[Path, Path], segments: list[str], outcome: type[NotServed]
) -> None:
    with pytest.raises(NotServed) as info:
        ConfinedRoot(tree[0]).lookup(segments)
    assert type(info.value) is outcome


def test_options_open_what_defaults_refuse(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    opened = ConfinedRoot(root, follow_symlinks=True, hidden=True)
    for segments in (["link-out"], [".hidden"]):
        found = opened.lookup(segments)
        assert isinstance(found, OpenFile)
        found.close()


def test_listing_hides_what_is_not_served(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    names = [e.name for e in ConfinedRoot(root).list_dir(Directory(root)).entries]
    assert names[0] == "sub"
    for hidden in (".hidden", "link-out", "dir-out", "fifo", "chardev"):
        assert hidden not in names
    assert "link-in" in names and "name with spaces 中文.txt" in names


def test_root_must_be_a_directory(tree: tuple[Path, Path]) -> None:
    with pytest.raises(UsageError, match=r"small\.txt: not a directory"):
        ConfinedRoot(tree[0] / "small.txt")
    with pytest.raises(UsageError, match="nowhere: no such folder"):
        ConfinedRoot(tree[0] / "nowhere")


def test_digest_cache_keeps_settled_versions_only(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    cache = DigestCache(limit=2)
    path = root / "mib.bin"
    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        digest = sha256_fd(f.fileno(), st.st_size)
    assert digest == hashlib.sha256(path.read_bytes()).digest()
    # just written: it could change again within one timestamp step, so it is not kept
    assert not cache.put(digest_key(st), digest, time.time())
    assert cache.get(digest_key(st)) is None
    assert cache.put(digest_key(st), digest, time.time() + 2.5)  # read 2.5 s after the write
    assert cache.get(digest_key(st)) == digest
    path.write_bytes(b"changed")  # a new version is a new key: the old digest is never served
    assert cache.get(digest_key(path.stat())) is None
    path.chmod(0o600)  # metadata too: the key holds ctime
    assert digest_key(path.stat()) != digest_key(st)
    for i in range(3):
        cache.put((0, 0, i, 0, 0), b"x", 10.0)
    assert cache.get(digest_key(st)) is None  # evicted: the cache is bounded


@pytest.mark.parametrize(
    "name",
    [
        ".bashrc",
        "a.txt",
        "A.TXT",
        "a.TGZ",
        "a.tgz",
        "a.tar.gz",
        "a.GZ",
        "a.b.c.txt",
        "file.",
        "a.svgz",
        "a.tbz2",
        "x.JSON",
        "x.json",
        "page.html",
        "x.py",
        "noext",
        "a.weird-ext",
    ],
)
def test_content_type_is_what_mimetypes_says(name: str) -> None:
    """Cached per extension, the answer stays guess_type's for the whole name."""
    guessed, encoding = mimetypes.guess_type(name, strict=False)
    if guessed is None or encoding is not None:
        want = "application/octet-stream"
    elif guessed.startswith("text/") or guessed in ("application/json", "application/javascript"):
        want = f"{guessed}; charset=utf-8"
    else:
        want = guessed
    assert content_type(name) == want


def test_content_type() -> None:
    assert content_type("a.txt") == "text/plain; charset=utf-8"
    assert content_type("a.png") == "image/png"
    assert content_type("a.tar.gz") == "application/octet-stream"
    assert content_type("noext") == "application/octet-stream"


def test_listing_limit_keeps_the_first_entries_and_counts_the_rest(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "C.txt", ".dot"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "zdir").mkdir()
    root = ConfinedRoot(tmp_path)
    whole = root.list_dir(Directory(tmp_path))
    assert [e.name for e in whole.entries] == ["zdir", "a.txt", "b.txt", "C.txt"]
    assert whole.total == 4 and not whole.truncated
    cut = root.list_dir(Directory(tmp_path), limit=2)
    assert [e.name for e in cut.entries] == ["zdir", "a.txt"]
    assert cut.total == 4 and cut.truncated
