"""Downloading one file into a ``.part`` beside its destination: the one path ``pigeon get``
(and its mirror) and chat attachments share.

An ``Origin`` asks its peer for the file from a byte on and says what the answer announced
(HTTP with Range and If-Range: ``aio.get``; IP Messenger's GETFILEDATA with an offset:
``aio.attachments``). Everything else happens here, once: holding the ``.part``, how much of
it a resume builds on (``proto.http.fetch.usable_length``), "already here", receiving into
the ``.part`` while hashing, a body shorter or longer than announced, the SHA-256 check, the
atomic commit, and the one retry policy (``retrying``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from pigeon.aio.bulk import Consume
from pigeon.errors import (
    ConnectionLost,
    ConnectionRefused,
    DestinationExists,
    DownloadBusy,
    IntegrityError,
    PigeonError,
    ProtocolError,
    TimedOut,
)
from pigeon.events import DownloadResult
from pigeon.fs.digests import sha256_path
from pigeon.fs.partfile import PartFile
from pigeon.fs.sinks import StreamOutput
from pigeon.proto.http.fetch import PartState, usable_length
from pigeon.proto.text import plural

RETRYABLE = (ConnectionLost, TimedOut)
"""What a retry may mend: a connection lost or gone silent. A refused connection or an
unknown host fails at once (as curl and wget do): nothing listens there, and waiting 7 s to
say so helps nobody; only once a connection was lost does a refusal mean "restarting"."""
LOCK_POLL = 0.2
SIDECAR_FROM = 1 << 20
"""A body longer than this gets a sidecar before it starts, so a cut download resumes; a
shorter one gets it only when cut (creating and removing it would cost more than the body)."""
Progress = Callable[[int, int | None], None]
"""Called with (bytes of the file so far, its whole size when known)."""
Commit = Callable[[PartFile, float | None], Awaitable[None]]
Tell = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Received:
    """How a body ended: bytes received, whether more followed than was announced, and the
    SHA-256 a trailer announced after it (None: none)."""

    received: int
    longer: bool = False
    trailer_digest: bytes | None = None


class Reply(Protocol):
    """A peer's answer to one request, its body not yet received."""

    @property
    def offset(self) -> int:
        """The byte of the file the body starts at (0: a resume was not granted)."""

    @property
    def total(self) -> int | None:
        """The whole file's size, when announced."""

    @property
    def length(self) -> int | None:
        """The body's announced length (None: until the end of a chunked or closed stream)."""

    @property
    def record(self) -> PartState | None:
        """What the sidecar keeps so a cut body resumes (None: it cannot be resumed)."""

    @property
    def expected(self) -> bytes | None:
        """The SHA-256 announced before the body."""

    @property
    def restart(self) -> str | None:
        """Why a resume that was asked for starts over, in one line (None: it did not)."""

    @property
    def modified(self) -> float | None:
        """The file's modification time as the peer gave it."""

    async def receive(self, stages: Sequence[Consume], progress: Callable[[int], None]) -> Received:
        """The body into ``stages``; ``progress`` gets the body bytes so far.

        Raises:
            ConnectionLost, TimedOut, ProtocolError (broken framing), LocalWriteError.
        """

    def finish(self, *, ok: bool) -> None:
        """Done with the answer (called once or more): its connection may serve again when
        ``ok`` and it was not finished before."""


class Origin(Protocol):
    """Where one file comes from."""

    @property
    def url(self) -> str:
        """What names the file in a sidecar (a ``.part`` resumes only from the same URL)."""

    @property
    def label(self) -> str:
        """What messages call the file."""

    @property
    def who(self) -> str:
        """What messages call the peer ("the server", a chat peer's name)."""

    async def ask(self, have: int, saved: PartState | None) -> Reply:
        """Ask for the file from byte ``have`` (0: whole), ``saved`` being the sidecar."""


async def _commit(part: PartFile, mtime: float | None) -> None:
    part.commit(mtime)


@dataclass(frozen=True, slots=True)
class Landing:
    """Where a download lands and by which rules, the same for every attempt."""

    final: Path | None  # None: streamed into ``stream`` instead
    stream: StreamOutput | None
    tell: Tell
    verify: bool = True
    force: bool = False
    wait_lock: bool = False
    progress: Progress | None = None
    commit: Commit = field(default=_commit)
    mtime: float | None = None  # the modification time to give the file (else the peer's)
    expected: bytes | None = None  # the SHA-256 known beforehand (a listing gave it)
    replace_hint: str = "use --force to replace it"  # what to do about a different file there

    @property
    def stream_label(self) -> str:
        """Where a stream went, as "to stdout" or "to /dev/null"."""
        label = self.stream.label if self.stream is not None else ""
        return label if label.startswith("to ") else f"to {label}"


async def retrying(
    attempt: Callable[[int], Awaitable[T]],
    *,
    retries: int,
    tell: Tell,
    once: bool = False,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``attempt(tries)`` until it succeeds, again after a lost connection or a timeout,
    with exponential backoff (0.5 s doubling up to 8 s). A refusal is retried only once a
    connection was lost (the peer restarting); ``once``: nothing is retried (a stream)."""
    delay = 0.5
    tries = 0
    while True:
        try:
            return await attempt(tries)
        except (*RETRYABLE, ConnectionRefused) as exc:
            first_refusal = isinstance(exc, ConnectionRefused) and tries == 0
            if tries >= retries or once or first_refusal:
                raise
            tell(f"{exc}; retrying in {delay:g}s ({tries + 1}/{retries})")
            await pause(delay)
            delay = min(delay * 2, 8.0)
            tries += 1


async def fetch_into_part(origin: Origin, into: Landing, *, resume: bool) -> DownloadResult:
    """One attempt: ask ``origin`` (continuing the ``.part`` when ``resume``), receive,
    check, commit. A cut leaves the ``.part`` and its sidecar for the next attempt."""
    part = PartFile(into.final) if into.final is not None else None
    if part is None:
        return await _landed(origin, into, None, await origin.ask(0, None))
    await _claim(part, into)
    try:
        saved, have = resume_point(part, origin.url) if resume and not part.created else (None, 0)
        if saved is not None and have != part.length():
            part.truncate(have)
        reply = await origin.ask(have, saved)
        return await _landed(origin, into, part, reply)
    finally:
        part.release()


def resume_point(part: PartFile, url: str) -> tuple[PartState | None, int]:
    """What a download of ``url`` builds on: the sidecar's record and how many bytes of the
    ``.part`` it keeps (None and 0: none, it starts from zero). The one rule, for the
    download itself and for what a cut one says of itself."""
    saved = part.resumable(url)
    if saved is None:
        return None, 0
    return saved, usable_length(part.length(), saved.size)


async def _claim(part: PartFile, into: Landing) -> None:
    """Hold the .part; with ``wait_lock``, wait for the other download to let go."""
    told = False
    while True:
        try:
            part.claim()
            return
        except DownloadBusy as exc:
            if not into.wait_lock:
                raise
            if not told:
                who = f"pid {exc.pid}" if exc.pid is not None else "another process"
                into.tell(f"{part.final} is being downloaded by {who}; waiting")
                told = True
        await asyncio.sleep(LOCK_POLL)


async def _landed(
    origin: Origin, into: Landing, part: PartFile | None, reply: Reply
) -> DownloadResult:
    ok = False
    try:
        result = await _receive(origin, into, part, reply)
        ok = True
        return result
    finally:
        reply.finish(ok=ok)
        if not ok and part is not None and reply.record is None:
            part.discard()  # a body that cannot be resumed is of no use cut


async def _receive(
    origin: Origin, into: Landing, part: PartFile | None, reply: Reply
) -> DownloadResult:
    """The body into the .part (or the stream), checked, verified and committed."""
    if reply.restart is not None:
        into.tell(f"{origin.url}: {reply.restart}")
    offset, total = reply.offset, reply.total
    expected = (reply.expected or into.expected) if into.verify else None
    local: bytes | None = None  # the digest of a file already under the final name
    # whether resuming or not: a file under the final name is replaced only by --force, or
    # kept when it is this very file (a stat on the loop: one call, as cheap as a thread hop)
    if part is not None and not into.force and os.path.exists(part.final):  # noqa: ASYNC240, PTH110
        local = await asyncio.to_thread(_existing, part.final, total, into.replace_hint)
        if local is not None and expected is not None:
            reply.finish(ok=False)  # its body is not read: the connection cannot serve again
            if local == expected:
                part.discard()  # nothing is left to build on, a resumed .part included
            return _already_here(into, part, local, expected)
    state: PartState | None = None  # the sidecar still to write if the body is cut
    if part is not None:
        part.open(resume=offset > 0)
        if offset:
            into.tell(f"resuming {part.final.name} from byte {offset}")
        state = reply.record
        if state is not None and (total is None or total - offset > SIDECAR_FROM):
            part.write_sidecar(state)
            state = None
        stages: Sequence[Consume] = part.stages()
        hasher = part.hasher
    else:
        assert into.stream is not None
        hasher = hashlib.sha256()
        stages = [into.stream.append, hasher.update]
    progress = into.progress
    try:
        got = await reply.receive(
            stages, (lambda n: progress(offset + n, total)) if progress is not None else _quiet
        )
        written = offset + got.received
        if reply.length is not None and got.received < reply.length:
            raise ConnectionLost(
                f"{origin.label}: connection lost after {written:,} of {plural(total or 0, 'byte')}"
            )
    except (*RETRYABLE, asyncio.CancelledError):
        # a cut small file resumes too, whether the link or the user (Ctrl-C) cut it; an
        # empty .part has nothing to resume (and is removed when let go)
        if part is not None and state is not None and part.length() > 0:
            with contextlib.suppress(PigeonError):
                part.write_sidecar(state)
        raise
    except ProtocolError:
        # broken framing: what this answer brought cannot be trusted to resume from; what
        # earlier answers brought (up to ``offset``) stays for the next run
        if part is not None:
            if offset:
                part.truncate(offset)
            else:
                part.discard()
        raise
    return await _verified(origin, into, part, reply, got, written, expected, local, hasher)


async def _verified(
    origin: Origin,
    into: Landing,
    part: PartFile | None,
    reply: Reply,
    got: Received,
    written: int,
    expected: bytes | None,
    local: bytes | None,
    hasher: hashlib._Hash,
) -> DownloadResult:
    """The received body checked against what was announced, then committed."""
    total = reply.total
    if got.longer:
        _fail(part)
        announced = f"the {plural(total, 'byte')} it announced" if total else "it announced"
        raise IntegrityError(
            f"{origin.label}: {origin.who} sent more than {announced} (nothing kept)"
        )
    if total is not None and written != total:
        _fail(part)
        raise IntegrityError(
            f"{origin.label}: {plural(written, 'byte')} arrived where {origin.who} announced "
            f"{total:,}"
        )
    digest = hasher.digest()
    if expected is None and into.verify:
        expected = got.trailer_digest
    if expected is not None and digest != expected:
        _fail(part)
        kept = "was deleted" if part is not None else f"was already written {into.stream_label}"
        raise IntegrityError(
            f"{origin.label}: SHA-256 mismatch: the download is corrupt and {kept}"
        )
    if part is None:
        return DownloadResult(None, written, digest.hex(), reply.offset, expected is not None)
    if local is not None:  # a file was already there: keep it only if it is this one
        part.discard()
        return _already_here(into, part, local, digest, verified=expected is not None)
    mtime = into.mtime if into.mtime is not None else reply.modified
    await into.commit(part, mtime)
    return DownloadResult(part.final, written, digest.hex(), reply.offset, expected is not None)


def _already_here(
    into: Landing, part: PartFile, local: bytes, digest: bytes, *, verified: bool = True
) -> DownloadResult:
    """The result for a file already under the final name, or ``DestinationExists``. The
    result says so (``already_here``): its one line is the caller's, no notice beside it."""
    if local != digest:
        raise DestinationExists(f"{part.final} exists and differs; {into.replace_hint}")
    size = part.final.stat().st_size
    return DownloadResult(part.final, size, local.hex(), 0, verified, already_here=True)


def _existing(final: Path, total: int | None, hint: str) -> bytes | None:
    """The SHA-256 of the file already under the final name, when it may be the peer's
    file (compared with the announced digest, or with what arrives); raises
    ``DestinationExists`` when it provably is not (another size, not a file)."""
    try:
        st = final.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or (total is not None and st.st_size != total):
        raise DestinationExists(f"{final} exists and differs; {hint}")
    try:
        return sha256_path(final)
    except OSError as exc:
        raise DestinationExists(
            f"{final} exists and cannot be read to compare it ({exc.strerror}); {hint}"
        ) from exc


def _fail(part: PartFile | None) -> None:
    if part is not None:
        part.discard()


def _quiet(_done: int) -> None:
    return None
