"""``pigeon get``: download over HTTP/1.1, resumable and verified.

What to ask and what an answer means are ``proto.http.fetch``'s decisions; the connection is
``aio.http_client``'s; the download into a ``.part`` (held, resumed, checked, verified,
committed, retried) is ``aio.fetch``'s, shared with chat attachments. Here: the HTTP side of
it (``HttpOrigin``: Range and If-Range, redirects, restarts), where a download lands, and
what a stopped one left for the next run (``cut_part``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from pigeon.aio.bulk import Consume
from pigeon.aio.fetch import Landing, Progress, Received, fetch_into_part, resume_point, retrying
from pigeon.aio.http_client import Connections, Head, HttpChannel
from pigeon.errors import HttpStatusError, PigeonError, ProtocolError, UsageError
from pigeon.events import DownloadResult, Emit, noticing
from pigeon.fs.partfile import PartFile
from pigeon.fs.sinks import destination, open_stream, prepare_folder
from pigeon.proto.http.fetch import (
    REDIRECTS,
    PartState,
    Verdict,
    judge,
    parse_repr_digest,
    redirect_target,
    restart_note,
    resume_headers,
)
from pigeon.proto.http.fields import parse_http_date
from pigeon.proto.http.messages import Framing
from pigeon.proto.http.source import Source, is_folder_target, parse_source

MAX_REDIRECTS = 5


def is_folder_error(source: Source) -> UsageError:
    """The one line for a folder asked for without ``-r``."""
    return UsageError(f"{source.url} is a folder: use -r to mirror it")


class HttpReply:
    """An HTTP answer whose body is still to come (``aio.fetch.Reply``)."""

    def __init__(
        self,
        pool: Connections,
        channel: HttpChannel,
        head: Head,
        offset: int,
        total: int | None,
        record: PartState,
        restart: str | None,
    ) -> None:
        self.pool = pool
        self.channel = channel
        self.head = head
        self.offset = offset
        self.total = total
        self.record = record
        self.restart = restart
        self.length = head.length if head.framing is Framing.LENGTH else None
        self.expected = parse_repr_digest(head.headers.get("repr-digest"))
        self._finished = False

    @property
    def modified(self) -> float | None:
        """The answer's Last-Modified, when it is a believable time (read only when the
        file's time is not known otherwise: a mirror has it from the listing)."""
        stamp = parse_http_date(self.head.headers.get("last-modified", ""))
        return stamp if stamp is not None and 0 <= stamp < 2.0**33 else None

    async def receive(self, stages: Sequence[Consume], progress: Callable[[int], None]) -> Received:
        body = await self.channel.body(stages, progress)
        trailer = parse_repr_digest(body.trailers.get("repr-digest"))
        return Received(body.received, body.longer, trailer)

    def finish(self, *, ok: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if ok:
            self.pool.give_back(self.channel)
        else:
            self.channel.close()


class HttpOrigin:
    """A file on an HTTP server (``aio.fetch.Origin``), asked on ``pool``'s connections."""

    def __init__(self, source: Source, pool: Connections, *, digest_wanted: bool) -> None:
        self.source = source
        self.pool = pool
        self.url = source.url
        self.label = source.url  # the URL redirects led to, once asked
        self.who = "the server"
        self._want = [("Want-Repr-Digest", "sha-256=1")] if digest_wanted else []

    async def ask(self, have: int, saved: PartState | None) -> HttpReply:
        """GET the file, from byte ``have`` when the sidecar's validators allow a resume."""
        if is_folder_target(self.source.target):
            raise is_folder_error(self.source)
        asked = resume_headers(saved, have)
        if not asked:  # nothing to resume, or no validator to resume it safely: from zero
            have, saved = 0, None
        channel, head = await self._follow([*self._want, *asked])
        restart = None
        try:
            answer = judge(head.status, head.headers, have, saved)
            if answer.verdict is Verdict.RESTART_UNSATISFIABLE:
                restart = restart_note(answer.verdict)
                channel.close()
                channel, head = await self._follow(self._want)
                answer = judge(head.status, head.headers, 0, None)
            if answer.verdict in (Verdict.STATUS_ERROR, Verdict.RESTART_UNSATISFIABLE):
                raise HttpStatusError(
                    f"{self.label}: the server answered {head.status}", head.status
                )
            if answer.verdict is Verdict.BAD_RANGE:
                raise ProtocolError(
                    f"{self.label}: bad answer from the server (a Content-Range that is not "
                    "the range asked for)"
                )
            if answer.verdict in (Verdict.RESTART_CHANGED, Verdict.RESTART_NO_RANGE):
                restart = restart_note(answer.verdict)
        except BaseException:
            channel.close()
            raise
        fields = head.headers
        record = PartState(self.url, fields.get("etag"), answer.total, fields.get("last-modified"))
        return HttpReply(self.pool, channel, head, answer.offset, answer.total, record, restart)

    async def _follow(self, headers: list[tuple[str, str]]) -> tuple[HttpChannel, Head]:
        """Send the request, following redirects (validated before use)."""
        current = self.source
        for _ in range(MAX_REDIRECTS + 1):
            self.label = current.url
            channel, head = await self.pool.ask(current, headers)
            if head.status not in REDIRECTS or "location" not in head.headers:
                return channel, head
            channel.close()
            current = redirect_target(current, head.headers["location"])
            if is_folder_target(current.target):
                raise is_folder_error(current)
        raise ProtocolError(f"{self.source.url}: more than {MAX_REDIRECTS} redirects")


async def fetch_url(
    source: Source, into: Landing, pool: Connections, *, resume: bool, retries: int
) -> DownloadResult:
    """``source`` downloaded as ``into`` says, retried and resumed after a cut."""
    origin = HttpOrigin(source, pool, digest_wanted=into.verify and into.expected is None)

    async def attempt(tries: int) -> DownloadResult:
        return await fetch_into_part(origin, into, resume=resume or tries > 0)

    return await retrying(attempt, retries=retries, tell=into.tell, once=into.final is None)


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
    stream = open_stream(dest)
    final = None if stream is not None else destination(src, dest)
    if final is not None:
        prepare_folder(final.parent, create=dest is not None and str(dest).endswith(("/", os.sep)))
    pool = Connections(stall_timeout)
    try:
        tell = noticing(emit or (lambda _event: None))
        into = Landing(final, stream, tell, verify, force, wait_lock, progress)
        return await fetch_url(src, into, pool, resume=resume, retries=retries)
    finally:
        pool.close()
        if stream is not None:
            stream.close()


class CutPart(NamedTuple):
    """What a download stopped before its end left: its ``.part``, the bytes in it, and why
    the same download would start over rather than continue it (None: it continues)."""

    path: Path
    size: int
    starts_over: str | None


def cut_part(source: Source, dest: str | Path | None) -> CutPart | None:
    """What a download of ``source`` to ``dest`` that was just stopped left, read from the
    disk by the rule the next run follows (``aio.fetch.resume_point``, then the Range it can
    ask). None: nothing kept (a stream, no ``.part`` or an empty one, or one that another
    download holds: a run waiting for that one's lock kept nothing of its own)."""
    final = destination(source, dest)  # the same path the download wrote to
    if final is None or (final.exists() and not final.is_file()):
        return None  # a stream (stdout, a device, a FIFO): what went out is gone
    part = PartFile(final)
    try:
        size = part.part.stat().st_size
        part.claim()  # never another process's: one still writing it holds the lock
    except (OSError, PigeonError):
        return None
    if part.created:  # gone meanwhile (another download finished): claim made it anew
        part.discard()
        return None
    try:
        if size == 0 or not part.part.is_file():
            return None
        saved, have = resume_point(part, source.url)
    finally:
        part.release()
    if saved is None:
        why: str | None = "no record of the server's version beside it"
    elif not have:
        why = "it does not fit the file its record describes"
    elif not resume_headers(saved, have):
        why = "the server named no version of the file to resume it by"
    else:
        why = None
    return CutPart(part.part, size, why)


def parse_source_arg(source: str | Source) -> Source:
    """A ``Source`` from what the API was given."""
    return source if isinstance(source, Source) else parse_source(source)


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


__all__ = ["DownloadResult", "download", "download_async"]
