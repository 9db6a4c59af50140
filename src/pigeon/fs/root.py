"""The shared folder: the only place ``pigeon serve`` reads from.

``ConfinedRoot.lookup`` turns validated path segments into an open regular file or a
directory, and ``list_dir`` a directory into its listing; a name not served is ``NotFound``
or ``Refused``: facts, which each protocol names its own way (``proto.http.respond`` for
HTTP). After opening, the real path of the open descriptor (``/proc/self/fd``) is checked to
lie inside the root, so a symlink swapped in between check and open is still refused.
Devices, FIFOs and sockets are never opened; hidden (dot) names are refused unless allowed.
"""

from __future__ import annotations

import errno
import functools
import mimetypes
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pigeon.errors import PigeonError, UsageError
from pigeon.proto.http.listing import Listing, ListingEntry

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""Never follow a final symlink, never block on a FIFO, never leak into children."""


class NotServed(PigeonError):
    """The name is not served, as ``NotFound`` or ``Refused`` (no detail on what exists);
    the protocol decides what each is called."""


class NotFound(NotServed):
    """Nothing by that name (or a path through a file, or a name too long)."""

    def __init__(self) -> None:
        super().__init__("not found")


class Refused(NotServed):
    """There, but never served: outside the root, hidden, special or unreadable."""

    def __init__(self) -> None:
        super().__init__("forbidden")


@dataclass(slots=True)
class OpenFile:
    """An open regular file, with the stat taken on the descriptor itself."""

    fd: int
    st: os.stat_result
    name: str

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self.fd)


@dataclass(frozen=True, slots=True)
class Directory:
    """A directory inside the root."""

    path: Path


class ConfinedRoot:
    """A read-only view of one directory tree."""

    def __init__(self, root: str | Path, *, follow_symlinks: bool = False, hidden: bool = False):
        real = Path(os.path.realpath(root))
        try:
            is_dir, exists = real.is_dir(), real.exists()
        except OSError:  # a folder above it cannot be entered
            raise UsageError(f"{root}: permission denied") from None
        if not is_dir:
            raise UsageError(f"{root}: {'not a directory' if exists else 'no such folder'}")
        if not os.access(real, os.R_OK | os.X_OK):
            raise UsageError(f"{root}: permission denied")
        self.path = real
        self.follow_symlinks = follow_symlinks
        self.hidden = hidden
        self._prefix = str(real).rstrip("/") + "/"
        self._dir_fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _inside(self, real: str) -> bool:
        return real == str(self.path) or real.startswith(self._prefix)

    def lookup(self, segments: Sequence[str]) -> OpenFile | Directory:
        """Open what ``segments`` name below the root.

        Raises:
            NotFound: missing. Refused: outside, hidden, special or unreadable.
        """
        if not self.hidden and any(seg.startswith(".") for seg in segments):
            raise NotFound()
        if segments:
            fast = self._lookup_plain_file(segments)
            if fast is not None:
                return fast
        candidate = self.path.joinpath(*segments)
        try:
            real = os.path.realpath(candidate, strict=True)
        except FileNotFoundError:
            raise NotFound() from None
        except OSError as exc:
            missing = exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG)
            raise (NotFound() if missing else Refused()) from None
        if not self.follow_symlinks and not self._inside(real):
            raise Refused()
        try:
            st = Path(real).stat()
        except FileNotFoundError:
            raise NotFound() from None
        except OSError:
            raise Refused() from None
        if stat.S_ISDIR(st.st_mode):
            if not os.access(real, os.R_OK | os.X_OK):
                raise Refused()
            return Directory(Path(real))
        if not stat.S_ISREG(st.st_mode):
            raise Refused()  # device, FIFO or socket: never opened
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except FileNotFoundError:
            raise NotFound() from None
        except OSError:
            raise Refused() from None
        try:
            fst = os.fstat(fd)
            opened = str(Path(f"/proc/self/fd/{fd}").readlink())
        except OSError:
            os.close(fd)
            raise Refused() from None
        if not stat.S_ISREG(fst.st_mode) or (not self.follow_symlinks and not self._inside(opened)):
            os.close(fd)
            raise Refused()
        return OpenFile(fd, fst, segments[-1] if segments else "")

    def _lookup_plain_file(self, segments: Sequence[str]) -> OpenFile | None:
        """The common case in few system calls: a regular file that is not itself a symlink.

        ``fstatat`` the name relative to the root, ``openat`` it with O_NOFOLLOW, compare the
        inode, and check the descriptor's real path. Anything else (a directory, a symlink,
        an error) returns None and takes the careful path in ``lookup``.
        """
        rel = "/".join(segments)
        try:
            st = os.stat(rel, dir_fd=self._dir_fd, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            fd = os.open(rel, _OPEN_FLAGS, dir_fd=self._dir_fd)
        except OSError:
            return None
        try:
            fst = os.fstat(fd)
            opened = os.readlink(f"/proc/self/fd/{fd}")  # noqa: PTH115 - str in, str out, hot path
        except OSError:
            os.close(fd)
            return None
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not self._inside(opened):
            os.close(fd)
            return None
        return OpenFile(fd, fst, segments[-1])

    def list_dir(self, directory: Directory, limit: int | None = None) -> Listing:
        """Entries of ``directory``, sorted (folders first, then by name); hidden ones skipped.

        Entries that are unreadable, special, or symlinks leading outside are left out. With
        ``limit``, only the first ``limit`` entries in that order are looked at (stat'ed) and
        kept; the listing's ``total`` then counts the names considered. Blocking: runs in a
        worker thread for the server.
        """
        try:
            dir_fd = os.open(directory.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            raise Refused() from None
        try:
            return self._list(directory, dir_fd, limit)
        finally:
            os.close(dir_fd)

    def _list(self, directory: Directory, dir_fd: int, limit: int | None) -> Listing:
        try:
            with os.scandir(dir_fd) as scan:
                # names and sort keys only: a DirEntry (with its cached stat) per name of a
                # big folder would hold several times the memory while the page is made
                names = [
                    (not _is_dir(i), i.name.casefold(), i.name, i.is_symlink())
                    for i in scan
                    if self.hidden or not i.name.startswith(".")
                ]
        except OSError:
            raise Refused() from None
        # is_dir follows symlinks as the stat below does: the order of sorting the finished
        # entries, without a stat per name beyond the page
        names.sort()
        entries: list[ListingEntry] = []
        for _, _, name, link in names:
            if limit is not None and len(entries) >= limit:
                break
            try:
                st = os.stat(name, dir_fd=dir_fd)
                if (
                    link
                    and not self.follow_symlinks
                    and not self._inside(os.path.realpath(directory.path / name))
                ):
                    continue
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and not stat.S_ISREG(st.st_mode):
                continue
            entries.append(ListingEntry(name, is_dir, 0 if is_dir else st.st_size, st.st_mtime))
        cut = limit is not None and len(entries) >= limit and len(names) > len(entries)
        return Listing(tuple(entries), len(names) if cut else len(entries))


def _is_dir(item: os.DirEntry[str]) -> bool:
    try:
        return item.is_dir()
    except OSError:
        return False


def content_type(name: str) -> str:
    """The Content-Type for a file name (UTF-8 for text)."""
    return _type_of_extension(os.path.splitext(name)[1])  # noqa: PTH122 (a str, per request)


@functools.lru_cache(maxsize=512)
def _type_of_extension(extension: str) -> str:
    # for a file name, what guess_type says depends on the last extension alone (an
    # encoding's, like .gz, makes it application/octet-stream whatever comes before): cached
    # per extension. A name is never read as a URL ("data:,x.png" is a PNG's name)
    guessed, encoding = mimetypes.guess_type("name" + extension, strict=False)
    if guessed is None or encoding is not None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in ("application/json", "application/javascript"):
        return f"{guessed}; charset=utf-8"
    return guessed
