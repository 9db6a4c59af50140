"""Where a download lands: the final path ``-o`` means, its folder, or, instead of a ``.part``,
stdout or a device/FIFO such as /dev/null.

Every sink counts exactly the bytes the kernel took, so a failure names the true count, and
turns a write error into one ``LocalWriteError`` line whose advice fits the cause: a full disk
is not a read-only file system, and neither is a permission problem.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path

from pigeon.errors import LocalWriteError, UsageError
from pigeon.proto.http.source import Source
from pigeon.proto.local_names import safe_local_name

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_DENIED = (errno.EACCES, errno.EPERM)


def write_failure(exc: OSError, what: str, written: int, *, resumable: bool) -> LocalWriteError:
    """The one-line error for a failed write to ``what`` after ``written`` bytes."""
    if exc.errno in _FULL:
        reason = "the disk is full"
        advice = "free space and rerun to resume" if resumable else "free space and rerun"
    elif exc.errno in _READ_ONLY:
        reason, advice = "the file system is read-only", "choose another destination with -o"
    elif exc.errno in _DENIED:
        reason, advice = "permission denied", "choose another destination with -o"
    else:
        reason = exc.strerror or str(exc)
        advice = "rerun to resume" if resumable else "check the destination"
    unit = "byte" if written == 1 else "bytes"
    return LocalWriteError(f"cannot write {what} after {written:,} {unit}: {reason} ({advice})")


class StreamOutput:
    """A descriptor that is written in order and never renamed (stdout, /dev/null, a FIFO)."""

    def __init__(self, fd: int, label: str, *, owned: bool) -> None:
        self.fd = fd
        self.label = label
        self.owned = owned
        self.written = 0

    def append(self, data: bytes | memoryview) -> None:
        """Write all of ``data``.

        Raises:
            BrokenPipeError: the reader went away (the CLI leaves quietly).
            LocalWriteError: any other write failure, with the true byte count.
        """
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                self.written += n
                view = view[n:]
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise write_failure(exc, self.label, self.written, resumable=False) from exc

    def close(self) -> None:
        """Close the descriptor when this sink opened it."""
        if self.owned and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def destination(source: Source, dest: str | Path | None) -> Path | None:
    """The final path for ``source`` given ``-o`` (None for stdout): a folder when ``dest``
    ends with a separator or is an existing folder (the name then comes from the URL)."""
    if dest is not None and str(dest) == "-":
        return None
    name = safe_local_name(source.name)
    if dest is None:
        return Path.cwd() / name
    text = str(dest)
    path = Path(dest)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return path / name
    return path


def open_stream(dest: str | Path | None) -> StreamOutput | None:
    """Where to stream instead of writing a file: stdout for ``-``, or an existing device or
    FIFO such as /dev/null (never replaced by a rename, as a .part would do)."""
    if dest is None:
        return None
    if str(dest) == "-":
        with contextlib.suppress(AttributeError, ValueError):
            sys.stdout.flush()
        return StreamOutput(1, "to stdout", owned=False)
    path = Path(dest)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISBLK(mode):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise write_failure(exc, str(path), 0, resumable=False) from exc
        return StreamOutput(fd, str(path), owned=True)
    return None


def prepare_folder(folder: Path, *, create: bool) -> None:
    """The destination's folder: created (with parents) when ``create``, else it must exist.

    Raises:
        LocalWriteError: it cannot be created; UsageError: it is missing.
    """
    if folder.is_dir():
        return
    if not create:
        raise UsageError(f"the folder {folder} does not exist (end -o with / to create it)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failure(exc, f"the folder {folder}", 0, resumable=False) from exc
