"""Writing a download beside its destination so a wrong file never takes the final name.

Bytes go to ``<name>.part`` while being hashed; a sidecar ``<name>.part.json`` remembers the
URL, ETag and size so a later run can resume. ``commit`` fsyncs, renames atomically onto the
final name and removes the sidecar; ``discard`` removes both.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pigeon.errors import LocalWriteError

READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PartInfo:
    """What the sidecar records about a partial download."""

    url: str
    etag: str | None
    size: int | None


class PartFile:
    """A ``.part`` file being written for ``final``."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.part = final.with_name(final.name + ".part")
        self.sidecar = final.with_name(final.name + ".part.json")
        self.hasher = hashlib.sha256()
        self.written = 0
        self._fd: int | None = None

    def resumable(self, url: str) -> PartInfo | None:
        """The sidecar's record when a ``.part`` of the same URL is there to continue."""
        try:
            data = json.loads(self.sidecar.read_text(encoding="utf-8"))
            info = PartInfo(str(data["url"]), data.get("etag"), data.get("size"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if info.url != url or not self.part.is_file():
            return None
        return info

    def _error(self, exc: OSError) -> LocalWriteError:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        return LocalWriteError(
            f"cannot write {self.part} after {self.written} bytes: {reason}; "
            "nothing else was changed (free space and rerun to resume)"
        )

    def open(self, *, resume: bool) -> int:
        """Open for writing; when resuming, hash what is already there. Returns the offset.

        Raises:
            LocalWriteError: the folder cannot be written.
        """
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (0 if resume else os.O_TRUNC)
        try:
            self._fd = os.open(self.part, flags, 0o644)
        except OSError as exc:
            raise self._error(exc) from exc
        self.hasher = hashlib.sha256()
        self.written = 0
        if resume:
            with self.part.open("rb") as existing:
                while chunk := existing.read(READ_CHUNK):
                    self.hasher.update(chunk)
                    self.written += len(chunk)
            os.lseek(self._fd, self.written, os.SEEK_SET)
        return self.written

    def record(self, info: PartInfo) -> None:
        """Write the sidecar (small, replaced atomically)."""
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(asdict(info)), encoding="utf-8")
        tmp.replace(self.sidecar)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` and hash it.

        Raises:
            LocalWriteError: as ``append``.
        """
        self.append(data)
        self.hasher.update(data)

    def append(self, data: bytes | memoryview) -> None:
        """Append ``data`` without hashing it (``hasher`` is fed separately: ``stages``).

        Raises:
            LocalWriteError: disk full or another write failure (the .part is kept, so a rerun
                after freeing space resumes).
        """
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            raise self._error(exc) from exc
        self.written += len(data)

    def stages(self) -> tuple[Callable[[memoryview], None], Callable[[memoryview], None]]:
        """Appending and hashing: every byte goes through both, each in order, side by side
        (``aio.bulk``) or one after the other. Call after ``open``."""
        return self.append, self.hasher.update

    def close(self) -> None:
        """Close the descriptor (the .part and sidecar stay for a later resume)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def commit(self, mtime: float | None = None) -> None:
        """fsync, set the modification time, rename onto the final name, drop the sidecar."""
        self.close()
        try:
            fd = os.open(self.part, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._error(exc) from exc
        if mtime is not None:
            os.utime(self.part, (mtime, mtime))
        self.part.replace(self.final)
        with contextlib.suppress(OSError):
            self.sidecar.unlink()
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.final.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def usable_length(self, info: PartInfo) -> int:
        """How much of the ``.part`` a resume can build on (0: start over).

        A ``.part`` as long as the whole file (the run was stopped between the last write
        and the rename) keeps all but its last byte, so the resumed request still gets an
        answer, with the digest that verifies the whole file. One longer than the file
        cannot be the file's beginning.
        """
        have = self.part.stat().st_size
        if info.size is None or have < info.size:
            return have
        if have > info.size or have == 0:
            return 0
        os.truncate(self.part, have - 1)
        return have - 1

    def discard(self) -> None:
        """Remove the .part and the sidecar (after a verification failure)."""
        self.close()
        for path in (self.part, self.sidecar):
            with contextlib.suppress(OSError):
                path.unlink()


def make_folder(path: Path) -> None:
    """Create ``path`` and its parents (for mirroring a tree).

    Raises:
        LocalWriteError: it cannot be created (a file is in the way, permission, disk full).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalWriteError(f"cannot create the folder {path}: {exc.strerror}") from exc
