"""``pigeon get``: download over HTTP/1.1, resumable and verified.

Bytes go to ``<name>.part`` (held exclusively: one writer per destination) while hashed; the
size must match and, when the server sends ``Repr-Digest`` as a header or as a trailer after
a chunked body, so must the SHA-256; only then fsync and an atomic rename. A connection lost
before or during the answer keeps the .part and its sidecar; the next attempt (automatic
retries with backoff, or a later run) continues with Range + If-Range. The decisions (what to
ask, what an answer means) are ``proto.http.fetch``'s; the connection is ``aio.http_client``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pigeon.aio.events import Emit, Notice
from pigeon.aio.http_client import Head, HttpChannel, in_turn
from pigeon.aio.sockets import resolve
from pigeon.aio.tcp import open_tcp
from pigeon.errors import (
    ConnectionLost,
    ConnectionRefused,
    DestinationExists,
    DownloadBusy,
    HttpStatusError,
    IntegrityError,
    NetworkError,
    PigeonError,
    ProtocolError,
    TimedOut,
    UsageError,
)
from pigeon.fs.digests import sha256_path
from pigeon.fs.partfile import PartFile
from pigeon.fs.sinks import StreamOutput, write_failure
from pigeon.proto.http.fetch import (
    PartState,
    Verdict,
    judge,
    parse_repr_digest,
    redirect_target,
    restart_note,
    resume_headers,
    usable_length,
)
from pigeon.proto.http.fields import parse_http_date
from pigeon.proto.http.messages import Framing
from pigeon.proto.http.source import Source, is_folder_target, parse_source
from pigeon.proto.local_names import safe_local_name
from pigeon.proto.text import plural

READ_SIZE = 1 << 20
MAX_REDIRECTS = 5
RETRYABLE = (ConnectionLost, TimedOut)
"""What a retry may mend: a connection lost or gone silent. A refused connection or an
unknown host fails at once (as curl and wget do): nothing listens there, and waiting 7 s to
say so helps nobody; only once a connection was lost does a refusal mean "restarting"."""
LOCK_POLL = 0.2
SIDECAR_FROM = 1 << 20
"""A body longer than this gets a sidecar, so a cut download resumes; a shorter one is
fetched again whole (creating and removing the sidecar would cost more than that)."""
Progress = Callable[[int, int | None], None]
Commit = Callable[[PartFile, float | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a finished download produced.

    Attributes:
        path: the final file, or None when streamed to stdout.
        bytes: size of the whole file.
        digest: hex SHA-256 of the whole file.
        resumed_from: byte offset the last attempt continued from (0: from the start).
        verified: True when the server's Repr-Digest was checked and matched.
    """

    path: Path | None
    bytes: int
    digest: str
    resumed_from: int
    verified: bool


class Connections:
    """Where attempts get their connection: a new one each time, or (``keep_alive``) one
    left open by an earlier answer to the same server."""

    def __init__(self, within: float, *, keep_alive: bool = False) -> None:
        self.within = within
        self.keep_alive = keep_alive
        self._idle: list[HttpChannel] = []

    def _idle_one(self, source: Source) -> HttpChannel | None:
        key = (source.host, source.port)
        for channel in self._idle:
            if channel.key == key:
                self._idle.remove(channel)
                if channel.usable():
                    return channel
                channel.close()  # the server closed it while idle (its keep-alive timeout)
                break
        return None

    async def ask(self, source: Source, headers: list[tuple[str, str]]) -> tuple[HttpChannel, Head]:
        """Send a GET for ``source`` and read the answer's head, on a kept-alive connection
        when there is one. A server may close an idle connection at any moment (RFC 9112
        section 9.3.1): when a kept-alive one is lost before its answer, the request goes
        once more on a new connection, as curl does (a GET is safe to repeat), instead of
        spending one of the download's retries."""
        channel = self._idle_one(source)
        if channel is None:
            channel = await HttpChannel.connect(source, self.within)
            return channel, await self._request(channel, source, headers)
        try:
            return channel, await self._request(channel, source, headers)
        except ConnectionLost as lost:
            if channel.heard:  # the server began to answer: a cut, for the retries to judge
                raise
            try:
                channel = await HttpChannel.connect(source, self.within)
            except ConnectionRefused as exc:  # the server went away: still a lost connection
                raise lost from exc
        return channel, await self._request(channel, source, headers)

    async def _request(
        self, channel: HttpChannel, source: Source, headers: list[tuple[str, str]]
    ) -> Head:
        try:
            return await channel.request("GET", source, headers, keep_alive=self.keep_alive)
        except BaseException:
            channel.close()
            raise

    def give_back(self, channel: HttpChannel) -> None:
        if self.keep_alive and channel.reusable:
            self._idle.append(channel)
        else:
            channel.close()

    def close(self) -> None:
        for channel in self._idle:
            channel.close()
        self._idle.clear()


async def _commit(part: PartFile, mtime: float | None) -> None:
    part.commit(mtime)


@dataclass(frozen=True, slots=True)
class Fetch:
    """One download's fixed settings, shared by every attempt."""

    source: Source
    final: Path | None  # None: streamed into ``stream`` instead
    stream: StreamOutput | None
    emit: Emit
    within: float
    verify: bool = True
    force: bool = False
    wait_lock: bool = False
    progress: Progress | None = None
    commit: Commit = field(default=_commit)
    mtime: float | None = None  # the modification time to give the file (else Last-Modified)
    expected: bytes | None = None  # the SHA-256 known beforehand (a listing gave it)

    @property
    def stream_label(self) -> str:
        """Where a stream went, as "to stdout" or "to /dev/null"."""
        label = self.stream.label if self.stream is not None else ""
        return label if label.startswith("to ") else f"to {label}"


def is_folder_error(source: Source) -> UsageError:
    """The one line for a folder asked for without ``-r``."""
    return UsageError(f"{source.url} is a folder: use -r to mirror it")


async def _claim(part: PartFile, job: Fetch) -> None:
    """Hold the .part; with ``wait_lock``, wait for the other download to let go."""
    told = False
    while True:
        try:
            part.claim()
            return
        except DownloadBusy as exc:
            if not job.wait_lock:
                raise
            if not told:
                who = f"pid {exc.pid}" if exc.pid is not None else "another process"
                job.emit(Notice(f"{part.final} is being downloaded by {who}; waiting"))
                told = True
        await asyncio.sleep(LOCK_POLL)


async def attempt(job: Fetch, pool: Connections, *, resume: bool) -> DownloadResult:
    """One request (following redirects) and its answer, into the .part or the stream."""
    if is_folder_target(job.source.target):
        raise is_folder_error(job.source)
    part = PartFile(job.final) if job.final is not None else None
    if part is not None:
        await _claim(part, job)
    try:
        return await _exchange(job, pool, part, resume=resume)
    finally:
        if part is not None:
            part.release()


async def _ask(
    job: Fetch, pool: Connections, headers: list[tuple[str, str]]
) -> tuple[HttpChannel, Head, Source]:
    """Send the request, following redirects (validated before use)."""
    current = job.source
    for _ in range(MAX_REDIRECTS + 1):
        channel, head = await pool.ask(current, headers)
        if head.status not in (301, 302, 303, 307, 308) or "location" not in head.headers:
            return channel, head, current
        channel.close()
        current = redirect_target(current, head.headers["location"])
        if is_folder_target(current.target):
            raise is_folder_error(current)
    raise ProtocolError(f"{job.source.url}: more than {MAX_REDIRECTS} redirects")


async def _exchange(
    job: Fetch, pool: Connections, part: PartFile | None, *, resume: bool
) -> DownloadResult:
    url = job.source.url
    fresh = part is None or part.created  # a .part made just now holds nothing to resume
    info = part.resumable(url) if part is not None and resume and not fresh else None
    have = 0
    if part is not None and info is not None:
        have = usable_length(part.length(), info.size)
        if have != part.length():
            part.truncate(have)
    asked = resume_headers(info, have)
    if not asked:  # nothing to resume, or no validator to resume it safely: from zero
        have, info = 0, None
    want = [("Want-Repr-Digest", "sha-256=1")] if job.verify and job.expected is None else []
    headers = [*want, *asked]
    channel, head, current = await _ask(job, pool, headers)
    try:
        answer = judge(head.status, head.headers, have, info)
        if answer.verdict is Verdict.RESTART_UNSATISFIABLE and part is not None:
            job.emit(Notice(f"{url}: {restart_note(answer.verdict)}"))
            part.truncate(0)
            channel.close()
            channel, head, current = await _ask(job, pool, want)
            have, info = 0, None
            answer = judge(head.status, head.headers, 0, None)
        if answer.verdict in (Verdict.STATUS_ERROR, Verdict.RESTART_UNSATISFIABLE):
            channel.close()
            raise HttpStatusError(f"{current.url}: the server answered {head.status}", head.status)
        if answer.verdict is Verdict.BAD_RANGE:
            channel.close()
            raise ProtocolError(
                f"{current.url}: bad answer from the server (a Content-Range that is not "
                "the range asked for)"
            )
        if answer.verdict in (Verdict.RESTART_CHANGED, Verdict.RESTART_NO_RANGE):
            job.emit(Notice(f"{url}: {restart_note(answer.verdict)}"))
        result = await _receive(job, channel, head, current, part, answer.offset, answer.total)
        pool.give_back(channel)
        return result
    except BaseException:
        channel.close()
        raise


async def _receive(
    job: Fetch,
    channel: HttpChannel,
    head: Head,
    source: Source,
    part: PartFile | None,
    offset: int,
    total: int | None,
) -> DownloadResult:
    """Stream the body into the .part (or the stream), verify, commit."""
    expected = None
    if job.verify:
        expected = parse_repr_digest(head.headers.get("repr-digest")) or job.expected
    local: bytes | None = None  # the digest of a file already under the final name
    fresh = part is not None and offset == 0 and not job.force
    if part is not None and fresh and os.path.exists(part.final):  # noqa: ASYNC240, PTH110
        local = await asyncio.to_thread(_existing, part.final, total)
        if local is not None and expected is not None and expected != local:
            raise DestinationExists(f"{part.final} exists and differs; use --force to replace it")
        if local is not None and expected == local:
            channel.close()
            job.emit(Notice(f"{part.final.name} is already here and identical (sha256)"))
            return DownloadResult(part.final, part.final.stat().st_size, local.hex(), 0, True)
    if part is not None:
        part.open(resume=offset > 0)
        if offset:
            job.emit(Notice(f"resuming {part.final.name} from byte {offset}"))
        record = PartState(
            job.source.url, head.headers.get("etag"), total, head.headers.get("last-modified")
        )
        state: PartState | None = record  # the sidecar still to write if the body is cut
        if total is None or total - offset > SIDECAR_FROM:
            part.record(record)
            state = None
        stages = list(part.stages())
        hasher = part.hasher
    else:
        state = None
        assert job.stream is not None
        hasher = hashlib.sha256()
        stages = [job.stream.append, hasher.update]
    progress = job.progress
    try:
        body = await channel.body(
            stages, (lambda n: progress(offset + n, total)) if progress is not None else None
        )
        written = offset + body.received
        if head.framing is Framing.LENGTH and body.received < (head.length or 0):
            raise ConnectionLost(
                f"{source.url}: connection lost after {written:,} of {plural(total or 0, 'byte')}"
            )
    except (ConnectionLost, TimedOut):
        if part is not None and state is not None:  # a cut small file resumes too
            with contextlib.suppress(PigeonError):
                part.record(state)
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
    if body.longer:
        _fail(part)
        raise IntegrityError(f"{source.url}: the server sent more bytes than it announced")
    if total is not None and written != total:
        _fail(part)
        raise IntegrityError(
            f"{source.url}: {plural(written, 'byte')} arrived where the server announced {total:,}"
        )
    digest = hasher.digest()
    if expected is None and job.verify:
        expected = parse_repr_digest(body.trailers.get("repr-digest"))
    if expected is not None and digest != expected:
        _fail(part)
        kept = "was deleted" if part is not None else f"was already written {job.stream_label}"
        raise IntegrityError(f"{source.url}: SHA-256 mismatch: the download is corrupt and {kept}")
    if part is not None:
        if local is not None:  # a file was already there: keep it only if it is this one
            part.discard()
            if local == digest:
                job.emit(Notice(f"{part.final.name} is already here and identical (sha256)"))
                return DownloadResult(part.final, written, digest.hex(), 0, expected is not None)
            raise DestinationExists(f"{part.final} exists and differs; use --force to replace it")
        mtime = job.mtime if job.mtime is not None else _modified(head)
        await job.commit(part, mtime)
    return DownloadResult(
        part.final if part else None, written, digest.hex(), offset, expected is not None
    )


def _modified(head: Head) -> float | None:
    """The answer's Last-Modified, when it is a believable time."""
    stamp = parse_http_date(head.headers.get("last-modified", ""))
    return stamp if stamp is not None and 0 <= stamp < 2.0**33 else None


def _existing(final: Path, total: int | None) -> bytes | None:
    """The SHA-256 of the file already under the final name, when it may be the server's
    file (compared with the server's digest, or with what arrives); raises
    ``DestinationExists`` when it provably is not (another size, not a file)."""
    try:
        st = final.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or (total is not None and st.st_size != total):
        raise DestinationExists(f"{final} exists and differs; use --force to replace it")
    try:
        return sha256_path(final)
    except OSError as exc:
        raise DestinationExists(
            f"{final} exists and cannot be read to compare it ({exc.strerror}); "
            "use --force to replace it"
        ) from exc


def _fail(part: PartFile | None) -> None:
    if part is not None:
        part.discard()


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


async def download_async(
    source: str | Source,
    dest: str | Path | None = None,
    *,
    resume: bool = True,
    verify: bool = True,
    progress: Progress | None = None,
    retries: int = 4,
    force: bool = False,
    stall_timeout: float = 30.0,
    wait_lock: bool = False,
    emit: Emit | None = None,
) -> DownloadResult:
    """Download ``source`` to ``dest`` (a file, a folder, ``"-"`` for stdout, or None: here).

    Args:
        source: an ``http://`` URL, ``HOST:PORT/path``, ``[V6]:PORT/path``, ``HOST/path``
            (port 7890, pigeon serve's), or a ``proto.http.source.Source``.
        dest: where to write; the name comes from the URL, made safe, when a folder is given
            (an existing folder, or a path ending in ``/``, created if missing).
        resume: continue a ``.part`` left by an earlier run of the same URL.
        verify: check the server's Repr-Digest (SHA-256) when it sends one.
        progress: called with (bytes so far, total or None).
        retries: attempts after a lost connection or a timeout, with exponential backoff
            (a refused connection or an unknown host fails at once).
        force: replace an existing file of the same name.
        stall_timeout: seconds of silence, or for a whole answer head, before an attempt
            counts as failed.
        wait_lock: when another download writes the same destination, wait for it
            (otherwise ``DownloadBusy``).
        emit: receives notices (resuming, retrying, restarting).

    Returns:
        DownloadResult.

    Raises:
        IntegrityError, HttpStatusError, DestinationExists, DownloadBusy, NetworkError,
        ProtocolError, LocalWriteError, UsageError (a folder, without -r).
    """
    src = parse_source_arg(source)
    report: Emit = emit or (lambda _event: None)
    stream = open_stream(dest)
    final = None if stream is not None else destination(src, dest)
    if final is not None:
        prepare_folder(final.parent, create=dest is not None and str(dest).endswith(("/", os.sep)))
    pool = Connections(stall_timeout)
    try:
        job = Fetch(src, final, stream, report, stall_timeout, verify, force, wait_lock, progress)
        return await with_retries(job, pool, resume=resume, retries=retries)
    finally:
        pool.close()
        if stream is not None:
            stream.close()


def parse_source_arg(source: str | Source) -> Source:
    """A ``Source`` from what the API was given."""
    return source if isinstance(source, Source) else parse_source(source)


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


async def with_retries(
    job: Fetch, pool: Connections, *, resume: bool, retries: int
) -> DownloadResult:
    """Attempts with exponential backoff; every retry resumes from the .part."""
    delay = 0.5
    for tries in range(retries + 1):
        try:
            return await attempt(job, pool, resume=resume or tries > 0)
        except (*RETRYABLE, ConnectionRefused) as exc:
            first_refusal = isinstance(exc, ConnectionRefused) and tries == 0
            if tries == retries or job.final is None or first_refusal:
                raise
            job.emit(Notice(f"{exc}; retrying in {delay:g}s ({tries + 1}/{retries})"))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
    raise NetworkError("unreachable")  # the loop always returns or raises


def download(
    source: str | Source,
    dest: str | Path | None = None,
    *,
    resume: bool = True,
    verify: bool = True,
    progress: Progress | None = None,
    retries: int = 4,
    force: bool = False,
    stall_timeout: float = 30.0,
    wait_lock: bool = False,
) -> DownloadResult:
    """Blocking twin of ``download_async``; same arguments, same result and errors."""
    return asyncio.run(
        download_async(
            source,
            dest,
            resume=resume,
            verify=verify,
            progress=progress,
            retries=retries,
            force=force,
            stall_timeout=stall_timeout,
            wait_lock=wait_lock,
        )
    )


async def download_legacy(
    source: Source,
    name: str,
    dest: str | Path | None,
    *,
    force: bool = False,
    stall_timeout: float = 30.0,
    emit: Emit | None = None,
) -> DownloadResult:
    """Fetch ``name`` with the tutorial's protocol: send the name, read until the server closes.

    Nothing can be verified (no size, no digest), and zero bytes mean "missing or empty": the
    protocol cannot tell them apart, so that is an error and no file is created.

    Raises:
        HttpStatusError (404): nothing came back. DestinationExists, NetworkError.
    """
    report: Emit = emit or (lambda _event: None)
    stream = open_stream(dest)
    final = None if stream else destination(Source(source.host, source.port, "/" + name), dest)
    if final is not None and final.exists() and not force:
        raise DestinationExists(f"{final} exists; use --force to replace it")
    part = PartFile(final) if final is not None else None
    if part is not None:
        part.claim()  # before anything is asked: a busy destination is left untouched
    try:
        target = (await resolve(source.host, source.port, socket.SOCK_STREAM))[0]
        reader, writer = await open_tcp(target, stall_timeout)
    except BaseException:
        if part is not None:
            part.release()
        raise
    hasher = hashlib.sha256()
    written = 0
    try:
        writer.write(name.encode("utf-8"))
        await writer.drain()
        if part is not None:
            part.open(resume=False)
            hasher = part.hasher
            consume = in_turn(part.stages())
        else:
            assert stream is not None
            consume = in_turn([stream.append, hasher.update])
        while True:
            try:
                async with asyncio.timeout(stall_timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                raise TimedOut(
                    f"{target.endpoint}: the server sent nothing for {stall_timeout:g}s"
                ) from None
            if not data:
                break
            consume(memoryview(data))
            written += len(data)
    except BaseException:
        _fail(part)
        raise
    finally:
        writer.close()
        if stream is not None:
            stream.close()
    if written == 0:
        _fail(part)
        raise HttpStatusError(
            f"{target.endpoint}: nothing came back for {name!r}: missing or empty "
            "(the tutorial's protocol cannot tell which)",
            404,
        )
    report(Notice("legacy protocol: the download cannot be verified (no size, no digest)"))
    if part is not None:
        part.commit()
    return DownloadResult(final, written, hasher.digest().hex(), 0, False)


__all__ = ["DownloadResult", "download", "download_async", "download_legacy"]
