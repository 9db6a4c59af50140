"""Where downloaded bytes go when not to a ``.part``: stdout or a device/FIFO such as /dev/null.

Every sink counts exactly the bytes the kernel took, so a failure names the true count, and
turns a write error into one ``LocalWriteError`` line whose advice fits the cause: a full disk
is not a read-only file system, and neither is a permission problem.
"""

from __future__ import annotations

import errno
import os

from pigeon.errors import LocalWriteError

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
