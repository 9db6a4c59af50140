"""fs.partfile: one writer per destination, sidecars written without a shared name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_a_part_file_has_one_writer(tmp_path: Path) -> None:
    import os

    from pigeon.errors import DownloadBusy
    from pigeon.fs.partfile import PartFile

    first, second = PartFile(tmp_path / "f.bin"), PartFile(tmp_path / "f.bin")
    first.open(resume=False)
    first.append(b"abc")
    with pytest.raises(DownloadBusy) as busy:
        second.claim()
    assert busy.value.pid == os.getpid() and f"pid {os.getpid()}" in str(busy.value)
    assert busy.value.exit_code == 19
    first.commit(None)
    second.claim()  # the name now leads to a new, empty .part: claimed
    second.release()  # nothing received: nothing left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    assert (tmp_path / "f.bin").read_bytes() == b"abc"


def test_a_waiter_never_writes_into_a_renamed_part(tmp_path: Path) -> None:
    from pigeon.fs.partfile import PartFile

    holder = PartFile(tmp_path / "g.bin")
    holder.open(resume=False)
    holder.append(b"done")
    waiter_fd = os.open(tmp_path / "g.bin.part", os.O_RDWR)  # opened before the rename
    holder.commit(None)
    os.close(waiter_fd)
    late = PartFile(tmp_path / "g.bin")
    late.open(resume=False)  # must not truncate the committed file through an old inode
    late.discard()
    assert (tmp_path / "g.bin").read_bytes() == b"done"


def test_sidecars_are_written_through_private_temporary_files(tmp_path: Path) -> None:
    from pigeon.fs.partfile import PartFile
    from pigeon.proto.http.fetch import PartState

    a, b = PartFile(tmp_path / "h.bin"), PartFile(tmp_path / "h.bin")
    a.write_sidecar(PartState("http://x/h.bin", '"1"', 10))
    b.write_sidecar(PartState("http://x/h.bin", '"2"', 10))
    (tmp_path / "h.bin.part").write_bytes(b"")
    info = a.resumable("http://x/h.bin")
    assert info is not None and info.etag == '"2"'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.bin.part", "h.bin.part.json"]
