"""Writing a download beside its destination so a wrong file never takes the final name.

Bytes go to ``<name>.part`` while being hashed; a sidecar ``<name>.part.json`` remembers the
URL and the answer's validators so a later run can resume. ``commit`` fsyncs, renames
atomically onto the final name and removes the sidecar; ``discard`` removes both.

One writer per destination: the ``.part`` is held under an exclusive ``flock`` from ``claim``
until ``commit``, ``discard`` or ``release``, so a second download of the same destination
is told who holds it instead of interleaving its bytes into the same file. A holder renames
or removes the ``.part`` before letting go, so a waiter checks, once it has the lock, that
the name still leads to the file it locked, and starts again otherwise.
"""

# ruff: noqa: PTH105, PTH108, PTH110, PTH113, PTH116
# (plain os calls on str paths: one PartFile per small file of a mirror, see __init__)

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pigeon.errors import DownloadBusy, LocalWriteError
from pigeon.fs.sinks import write_failure
from pigeon.proto.http.fetch import PartState

READ_CHUNK = 1 << 20


def lock_holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on the file open at ``fd``, from /proc/locks (Linux)."""
    st = os.fstat(fd)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:  # noqa: PTH123
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == ident:
                    return int(fields[4]) if fields[4].isdigit() else None
    except OSError:
        return None
    return None


class PartFile:
    """A ``.part`` file being written for ``final``.

    The order of calls: ``claim`` (hold it), ``resumable`` (what a sidecar says), ``truncate``
    (to what a resume builds on), ``open`` (hash what is kept), ``write_sidecar``, then
    ``stages`` or ``write`` for the bytes, and ``commit`` or ``discard``; ``release`` at the
    end in every case (it keeps a ``.part`` worth resuming). ``aio.fetch`` is the one caller
    that follows the whole order.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        # plain strings for the system calls: a mirror makes one PartFile per small file,
        # and pathlib's parsing and conversions cost more than the calls themselves
        self._final = os.fspath(final)
        self._part = self._final + ".part"
        self._sidecar = self._final + ".part.json"
        self.hasher = hashlib.sha256()
        self.written = 0
        self._fd: int | None = None
        self.deferred = False  # a batch commit holds it (``release`` must not let go)
        self.created = False  # ``claim`` made the .part: there is nothing to resume

    @property
    def part(self) -> Path:
        """The ``.part`` file's path."""
        return Path(self._part)

    @property
    def sidecar(self) -> Path:
        """The sidecar's path."""
        return Path(self._sidecar)

    # ----- the lock ----------------------------------------------------------------------

    def claim(self) -> None:
        """Open the ``.part`` (created empty if missing) and hold it exclusively.

        Raises:
            DownloadBusy: another process is writing it (its pid in the message).
            LocalWriteError: the folder cannot be written.
        """
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        while self._fd is None:
            try:
                try:
                    fd = os.open(self._part, flags | os.O_EXCL, 0o644)
                    self.created = True
                except FileExistsError:
                    fd = os.open(self._part, flags, 0o644)
                    self.created = False
            except OSError as exc:
                raise write_failure(exc, self._part, 0, resumable=False) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = lock_holder(fd)
                os.close(fd)
                who = f"pid {pid}" if pid is not None else "another process"
                raise DownloadBusy(
                    f"{self.final} is already being downloaded ({who}); "
                    "use --wait-lock to wait for it",
                    pid,
                ) from None
            try:
                here = os.stat(self._part)
                mine = os.fstat(fd)
                same = (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
            else:  # the previous holder renamed or removed it before letting go: again
                os.close(fd)

    @property
    def claimed(self) -> bool:
        """True while this object holds the ``.part``."""
        return self._fd is not None

    def release(self) -> None:
        """Let go of the ``.part``, keeping it for a resume; an empty one with no sidecar
        (nothing was received) is removed, so a failed request leaves nothing behind."""
        if self._fd is None or self.deferred:
            return
        with contextlib.suppress(OSError):
            if os.fstat(self._fd).st_size == 0 and not os.path.exists(self._sidecar):
                os.unlink(self._part)
        self.close()

    # ----- resuming ----------------------------------------------------------------------

    def resumable(self, url: str) -> PartState | None:
        """The sidecar's record when a ``.part`` of the same URL is there to continue."""
        try:
            with open(self._sidecar, encoding="utf-8") as saved:  # noqa: PTH123 (as above)
                data = json.load(saved)
            size = data.get("size")
            info = PartState(
                str(data["url"]),
                data.get("etag") if isinstance(data.get("etag"), str) else None,
                size if isinstance(size, int) and not isinstance(size, bool) else None,
                data.get("last_modified") if isinstance(data.get("last_modified"), str) else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if info.url != url or not os.path.isfile(self._part):
            return None
        return info

    def length(self) -> int:
        """Bytes in the ``.part`` now."""
        if self._fd is not None:
            return os.fstat(self._fd).st_size
        try:
            return os.stat(self._part).st_size
        except FileNotFoundError:
            return 0

    def truncate(self, length: int) -> None:
        """Cut the held ``.part`` to ``length`` bytes (a resume builds on what is left)."""
        assert self._fd is not None
        os.ftruncate(self._fd, length)

    def _error(self, exc: OSError) -> LocalWriteError:
        return write_failure(exc, self._part, self.written, resumable=True)

    def open(self, *, resume: bool) -> int:
        """Claim the ``.part`` for writing; when resuming, hash what is already there.
        Returns the offset writing continues from.

        Raises:
            DownloadBusy: another process holds it.
            LocalWriteError: the folder cannot be written.
        """
        self.claim()
        assert self._fd is not None
        self.hasher = hashlib.sha256()
        self.written = 0
        if not resume:
            if not self.created:
                os.ftruncate(self._fd, 0)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._sidecar)  # it described the bytes just dropped
        else:
            while chunk := os.pread(self._fd, READ_CHUNK, self.written):
                self.hasher.update(chunk)
                self.written += len(chunk)
        if self.written:
            os.lseek(self._fd, self.written, os.SEEK_SET)
        return self.written

    def write_sidecar(self, info: PartState) -> None:
        """Write the sidecar: a private temporary file renamed over it (atomic, no shared
        temporary name two writers could collide on)."""
        fd, tmp = tempfile.mkstemp(prefix=self.sidecar.name + ".", dir=self.sidecar.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(asdict(info), out)
            Path(tmp).replace(self.sidecar)
        except OSError as exc:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise self._error(exc) from exc

    # ----- writing -----------------------------------------------------------------------

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
            LocalWriteError: disk full or another write failure, with the exact number of
                bytes in the ``.part`` (it is kept, so a rerun resumes).
        """
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                self.written += n
                view = view[n:]
        except OSError as exc:
            raise self._error(exc) from exc

    def stages(self) -> tuple[Callable[[memoryview], None], Callable[[memoryview], None]]:
        """Appending and hashing: every byte goes through both, each in order, side by side
        (``aio.bulk``) or one after the other. Call after ``open``."""
        return self.append, self.hasher.update

    def close(self) -> None:
        """Close the descriptor and let go of the lock (the .part and sidecar stay for a
        later resume)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def commit(self, mtime: float | None = None, *, synced: bool = False) -> None:
        """fsync, set the modification time, rename onto the final name, drop the sidecar;
        all while holding the ``.part``, so no other writer can touch it in between.

        ``synced``: the caller has already flushed the data to disk (one ``os.sync`` for a
        batch of files) and will flush the renames the same way; no fsync here.
        """
        self.claim()
        assert self._fd is not None
        try:
            here, mine = os.stat(self._part), os.fstat(self._fd)
            if (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
                self.close()
                raise LocalWriteError(
                    f"{self.part} was replaced by another program while this download held it; "
                    "nothing was renamed (rerun to fetch it again)"
                )
            if not synced:
                os.fsync(self._fd)
            if mtime is not None:
                os.utime(self._fd, (mtime, mtime))
            os.replace(self._part, self._final)
        except OSError as exc:
            self.close()
            raise self._error(exc) from exc
        with contextlib.suppress(OSError):
            os.unlink(self._sidecar)
        self.close()
        if synced:
            return
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.final.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        """Remove the .part and the sidecar (after a verification failure); only while
        holding the .part, never another process's download."""
        if self._fd is None:
            try:
                self.claim()
            except DownloadBusy:
                return
            except LocalWriteError:
                return
        for path in (self._part, self._sidecar):
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.close()


def make_folder(path: Path) -> None:
    """Create ``path`` and its parents (for mirroring a tree).

    Raises:
        LocalWriteError: it cannot be created (a file is in the way, permission, disk full).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(exc, f"the folder {path}", 0, resumable=False) from exc
