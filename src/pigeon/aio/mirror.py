"""``pigeon get -r``: mirror a folder tree, from pigeon's JSON listings or any HTML listing.

A few workers, each over its own keep-alive connection, take folders and files from one
queue; every file goes through the same verified download as ``pigeon get`` (``aio.get``).
A failed file is reported and the rest goes on. Names are checked before anything is
written (``proto.local_names.listed_name``): dangerous ones are refused, dot-names skipped
unless ``hidden``. Files take their final names in batches after one ``os.sync`` of their
data (``BatchCommit``), so a name never points at bytes that are not on disk, without one
fsync per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from pigeon.aio.fetch import Landing, Progress, retrying
from pigeon.aio.get import fetch_url
from pigeon.aio.http_client import Connections, HttpChannel
from pigeon.errors import (
    HttpStatusError,
    IntegrityError,
    PigeonError,
    ProtocolError,
    UsageError,
)
from pigeon.events import DownloadResult, Emit, Notice
from pigeon.fs.digests import sha256_path
from pigeon.fs.partfile import PartFile, make_folder
from pigeon.proto.http.fields import parse_count
from pigeon.proto.http.html_listing import folder_links
from pigeon.proto.http.source import Source
from pigeon.proto.local_names import Listed, listed_name, refusal
from pigeon.proto.text import escape_controls

MAX_LISTING = 64 << 20
MAX_DEPTH = 32
LISTING_TYPES = ("application/json", "text/html", "application/xhtml+xml", "")
"""Content types a folder's listing may come as (none: sniffed from the body)."""
WORKERS = 4
BATCH_FILES = 256
BATCH_SECONDS = 0.5
MAX_MTIME = 2.0**33  # the year 2242: later (or NaN, or negative) is not a real timestamp
SHOWN_FROM = 1 << 20
"""Files at least this large get a progress row; a row per small file would cost more than
the file."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One listed entry, its fields checked (None: not given, or not believable)."""

    name: str
    is_dir: bool
    size: int | None = None
    sha256: str | None = None
    mtime: float | None = None
    odd_mtime: bool = False  # an mtime was listed but is no time (NaN, negative, a string)


@dataclass
class MirrorOutcome:
    """What a mirror did: files fetched, files already there, failures, names left out."""

    results: list[DownloadResult] = field(default_factory=list)
    up_to_date: int = 0
    failures: list[tuple[str, PigeonError]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    hidden: int = 0
    dot_files_unlisted: bool = False
    """Dot-files were asked for (``--hidden``) but a listing said the server leaves them out."""
    odd_mtimes: int = 0
    on_result: Callable[[str, DownloadResult], None] | None = None
    """Told each file's URL and result as it lands (under its final name), so a caller can
    show them as the mirror goes rather than at its end."""

    def landed(self, landed: list[tuple[str, DownloadResult]]) -> None:
        """Count the files of ``landed`` (URL, result) as mirrored; tell ``on_result``. When
        telling fails (a closed stdout), nothing more is told and the failure ends the mirror,
        whose files are committed all the same (``BatchCommit.finish``)."""
        self.results += [result for _url, result in landed]
        if self.on_result is not None:
            try:
                for url, result in landed:
                    self.on_result(url, result)
            except BaseException:
                self.on_result = None
                raise


class FolderListing(NamedTuple):
    """A folder's listed entries; what the server left out of them (``cut``: a note, when
    its ``--max-listing`` cut the listing short); whether it leaves dot-files out."""

    entries: list[Entry]
    cut: str | None = None
    no_dot_files: bool = False


@dataclass
class _Pending:
    part: PartFile
    mtime: float | None
    url: str = ""
    result: DownloadResult | None = None


class BatchCommit:
    """Final names for verified files, a batch at a time, after one sync of their data.

    A power loss can then cost only the batch in flight: its ``.part`` files stay (the next
    run fetches them again); a final name never holds data that had not reached the disk.
    A file counts as mirrored (``outcome.results``) only once its rename is done; a rename
    that fails is that file's failure alone. Batches go out from their own task, at
    ``BATCH_FILES`` files or after ``BATCH_SECONDS``, so a held ``.part`` is never waited on
    by the download that holds it.
    """

    def __init__(self, outcome: MirrorOutcome) -> None:
        self.outcome = outcome
        self._pending: list[_Pending] = []
        self._due = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Commit batches as they come, from a task of their own (which ends early only by
        raising: a result that could not be shown)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return self._task

    async def add(self, part: PartFile, mtime: float | None) -> None:
        """Hold ``part`` for the next batch (never waits: the caller's result follows with
        ``settle`` before anything else can run)."""
        part.deferred = True
        self._pending.append(_Pending(part, mtime))
        if len(self._pending) >= BATCH_FILES:
            self._due.set()
        self.start()

    def settle(self, url: str, result: DownloadResult) -> None:
        """The download behind the newest held part, once it has returned."""
        for item in reversed(self._pending):
            if item.result is None and item.part.final == result.path:
                item.url, item.result = url, result
                return
        self.outcome.landed([(url, result)])  # nothing held: it was already here

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_SECONDS):
                    await self._due.wait()
            self._due.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await asyncio.to_thread(os.sync)
        except BaseException:
            # cancelled while syncing: the batch is held again, for ``finish`` to commit
            self._pending = batch + self._pending
            raise
        landed = []
        for item in batch:
            item.part.deferred = False
            try:
                item.part.commit(item.mtime, synced=True)
            except PigeonError as exc:
                item.part.discard()
                self.outcome.failures.append((item.url or str(item.part.final), exc))
                continue
            if item.result is not None:
                landed.append((item.url, item.result))
        # told once the whole batch has its final names: a caller's failure to show one (a
        # closed stdout) cannot leave the rest of the batch uncommitted
        self.outcome.landed(landed)

    async def finish(self) -> None:
        """Commit what is held (also when the mirror was interrupted) and make the renames
        themselves durable. A batch being synced is waited for, never cut: cancelling it
        would leave its files as ``.part`` while the mirror reported success."""
        self._stopping = True
        self._due.set()
        failure = None
        if self._task is not None:
            try:
                await self._task
            except BaseException as exc:  # the caller's own cancellation, or a result that
                failure = exc  # could not be shown: held files are committed first
        try:
            await self.flush()
        finally:
            await asyncio.to_thread(os.sync)
        if failure is not None:
            raise failure


def _entries_from_json(doc: object) -> list[Entry] | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        return None
    out: list[Entry] = []
    for item in doc["entries"]:
        if not isinstance(item, dict):
            continue
        size = item.get("size")
        digest = item.get("sha256")
        mtime = item.get("mtime")
        stamp = _mtime(mtime)
        out.append(
            Entry(
                item.get("name"),  # type: ignore[arg-type]  # checked by listed_name
                item.get("type") == "dir",
                size
                if isinstance(size, int) and not isinstance(size, bool) and size >= 0
                else None,
                digest.lower() if isinstance(digest, str) and _is_hex64(digest) else None,
                stamp,
                stamp is None and mtime is not None,
            )
        )
    return out


_is_hex64 = re.compile("[0-9a-fA-F]{64}").fullmatch


def _mtime(value: object) -> float | None:
    """A listed modification time, when it is one: a number from 1970 to ``MAX_MTIME``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    stamp = float(value)  # ints are at most 19 digits (_json_int): no OverflowError
    return stamp if math.isfinite(stamp) and 0 <= stamp < MAX_MTIME else None


def _json_int(text: str) -> int | float:
    """A JSON integer as ``int`` when it has at most 19 digits, else NaN (no size, no time):
    Python's ``int`` raises past 4,300 digits, which would lose the whole listing."""
    value = parse_count(text.removeprefix("-"))
    if value is None:
        return math.nan
    return -value if text.startswith("-") else value


def _shown_name(name: object) -> str:
    """A listed name for a message: escaped, quoted, at most 80 characters of it."""
    text = name if isinstance(name, str) else repr(name)
    cut = f"... ({len(text):,} characters)" if len(text) > 80 else ""
    return f"'{escape_controls(text[:80])}{cut}'"


async def _file_instead(pool: Connections, source: Source) -> None:
    """Raise the usage error when ``source``, named without its slash, is a file: a server
    that answers ``NAME/`` with 404 for a file (nginx, pigeon serve) says nothing else."""
    try:
        channel = await HttpChannel.connect(source, pool.within)
        try:
            head = await channel.request("HEAD", source, [])
        finally:
            channel.close()
    except PigeonError:
        return  # the listing's own error stands
    if head.status == 200:
        kind = head.headers.get("content-type", "").split(";")[0].strip().lower() or "a file"
        raise UsageError(f"{source.url} is not a folder ({kind}): drop -r to fetch it")


async def _listing(pool: Connections, folder: Source) -> FolderListing:
    """The entries of the folder at ``folder`` (its target ends with ``/``), with the digests
    pigeon serve knows or can compute at once (small files); and what the server left out."""
    query = "?format=json&digest=sha-256"
    asked = Source(folder.host, folder.port, folder.target + query)
    channel, head = await pool.ask(asked, [("Accept", "application/json, text/html;q=0.9")])
    kind = head.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if head.status != 200:
            raise HttpStatusError(f"{folder.url}: the listing answered {head.status}", head.status)
        if kind not in LISTING_TYPES:  # a file: said before its body is read as a listing
            raise UsageError(f"{folder.url} is not a folder ({kind}): drop -r to fetch it")
        if (head.length or 0) > MAX_LISTING:
            raise ProtocolError(f"{folder.url}: listing larger than {MAX_LISTING >> 20} MiB")
        body = bytearray()

        def collect(data: memoryview) -> None:
            body.extend(data)
            if len(body) > MAX_LISTING:
                raise ProtocolError(f"{folder.url}: listing larger than {MAX_LISTING >> 20} MiB")

        await channel.body([collect])
        pool.give_back(channel)
    except BaseException:
        channel.close()
        raise
    if kind == "application/json" or (not kind and bytes(body[:1]) == b"{"):
        try:
            doc = json.loads(bytes(body), parse_int=_json_int)
            found = _entries_from_json(doc)
        except ValueError:
            found = None
        if found is None:
            raise ProtocolError(f"{folder.url}: the JSON listing is not one pigeon can read")
        cut = None
        if doc.get("truncated") is True:
            total = doc.get("total")
            of = f" of {total:,}" if isinstance(total, int) and total > len(found) else ""
            cut = (
                f"{folder.url}: the server listed only {len(found):,}{of} names (its "
                "--max-listing); the rest were not mirrored"
            )
        return FolderListing(found, cut, doc.get("dot_files") is False)
    text = bytes(body).decode("utf-8", "replace")
    links = folder_links(text, folder.target)
    return FolderListing([Entry(link.name, link.is_dir) for link in links])


async def _up_to_date(local: Path, entry: Entry) -> bool:
    """True when ``local`` is provably the listed file: same size and SHA-256 (without a
    listed digest, the download itself compares what arrives with what is here). The hash
    runs in a thread: a large file must not stall the other workers."""
    if entry.sha256 is None or entry.size is None:
        return False
    try:
        st = os.stat(local)  # noqa: PTH116 (one stat per file: pathlib's costs more)
    except OSError:
        return False
    if st.st_size != entry.size:
        return False
    try:
        return (await asyncio.to_thread(sha256_path, local)).hex() == entry.sha256
    except OSError:
        return False


@dataclass
class _Mirror:
    emit: Emit
    within: float
    retries: int
    force: bool
    hidden: bool
    wait_lock: bool
    progress_for: Callable[[str], Progress | None] | None
    outcome: MirrorOutcome = field(default_factory=MirrorOutcome)
    queue: asyncio.Queue[tuple[Source, Path, Entry | None, int]] = field(
        default_factory=asyncio.Queue
    )
    commits: BatchCommit = field(init=False)
    claimed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.commits = BatchCommit(self.outcome)

    def tell(self, text: str) -> None:
        """A one-line notice."""
        self.emit(Notice(text))

    async def worker(self) -> None:
        pool = Connections(self.within, keep_alive=True)
        try:
            while True:
                source, local, entry, depth = await self.queue.get()
                try:
                    if entry is None:
                        await self.folder(pool, source, local, depth)
                    else:
                        await self.file(pool, source, local, entry)
                except PigeonError as exc:
                    self.outcome.failures.append((source.url, exc))
                    self.emit(Notice(f"failed: {exc}"))
                finally:
                    self.queue.task_done()
        finally:
            pool.close()

    async def folder(self, pool: Connections, source: Source, local: Path, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"{source.url}: folders nested deeper than {MAX_DEPTH}")
        entries, cut, no_dot_files = await _retrying(self, pool, source)
        if no_dot_files and self.hidden:
            self.outcome.dot_files_unlisted = True
        make_folder(local)
        hidden = 0
        here = f"{local}{os.sep}"
        for entry in entries:
            verdict = listed_name(entry.name, hidden=self.hidden)
            # one destination, one download: a name listed twice, or names a file system
            # takes for the same file (case) or for each other's .part or sidecar, refused
            names = {f"{here}{entry.name}{end}".casefold() for end in ("", ".part", ".part.json")}
            if verdict is Listed.TAKE and names & self.claimed:
                verdict = Listed.REFUSED
            if verdict is Listed.TAKE:
                self.claimed |= names
            if verdict is Listed.HIDDEN:
                hidden += 1
                continue
            if verdict is Listed.TAKE and entry.odd_mtime and not entry.is_dir:
                self.outcome.odd_mtimes += 1
            if verdict is Listed.REFUSED:
                shown = _shown_name(entry.name)
                why = refusal(entry.name) or "listed twice, or as another name's .part"
                self.outcome.refused.append(f"{source.url}{shown}")
                self.emit(Notice(f"{source.url}: refused the listed name {shown}: {why}"))
                continue
            child = Source(
                source.host,
                source.port,
                source.target + quote(entry.name) + ("/" if entry.is_dir else ""),
            )
            self.queue.put_nowait(
                (child, local / entry.name, None if entry.is_dir else entry, depth + 1)
            )
        self.outcome.hidden += hidden
        if cut is not None:  # what was listed is mirrored; the folder still counts as failed
            self.outcome.failures.append((source.url, ProtocolError(cut)))
            self.emit(Notice(f"failed: {cut}"))

    async def file(self, pool: Connections, source: Source, local: Path, entry: Entry) -> None:
        if not self.force and await _up_to_date(local, entry):
            self.outcome.up_to_date += 1
            self.emit(Notice(f"{local}: up to date"))
            return
        shown = entry.size is None or entry.size >= SHOWN_FROM
        progress = self.progress_for(entry.name) if self.progress_for and shown else None
        into = Landing(
            local,
            None,
            self.tell,
            force=self.force,
            wait_lock=self.wait_lock,
            progress=progress,
            commit=self.commits.add,
            mtime=entry.mtime,
            expected=bytes.fromhex(entry.sha256) if entry.sha256 else None,
        )
        try:
            result = await fetch_url(source, into, pool, resume=True, retries=self.retries)
        except IntegrityError:
            if into.expected is None:
                raise
            # the listed digest may be older than the file: ask the server for the current one
            self.emit(Notice(f"{source.url}: not the listed file (changed since); fetching again"))
            into = dataclasses.replace(into, expected=None)
            result = await fetch_url(source, into, pool, resume=False, retries=self.retries)
        self.commits.settle(source.url, result)


async def _retrying(job: _Mirror, pool: Connections, folder: Source) -> FolderListing:
    """A folder's listing, retried after a lost connection like a file."""

    async def attempt(_tries: int) -> FolderListing:
        return await _listing(pool, folder)

    return await retrying(attempt, retries=job.retries, tell=job.tell)


async def mirror_async(
    source: Source,
    dest: Path,
    *,
    force: bool = False,
    retries: int = 4,
    stall_timeout: float = 30.0,
    hidden: bool = False,
    wait_lock: bool = False,
    emit: Emit | None = None,
    progress_for: Callable[[str], Progress | None] | None = None,
    workers: int = WORKERS,
    outcome: MirrorOutcome | None = None,
) -> MirrorOutcome:
    """Mirror the folder at ``source`` into ``dest``.

    Creates the tree, skips files already complete and identical (size, and SHA-256 when the
    listing offers it), keeps modification times. Failures are collected, not raised: the
    caller reports them (``MirrorOutcome.failures``, ``refused``). ``outcome``: filled as the
    mirror goes, so a caller whose run is interrupted can tell what was kept.

    Raises:
        PigeonError: only when the top folder itself cannot be listed.
    """
    report: Emit = emit or (lambda _event: None)
    top = (
        source
        if source.target.partition("?")[0].endswith("/")
        else Source(source.host, source.port, source.target.partition("?")[0] + "/")
    )
    job = _Mirror(
        report,
        stall_timeout,
        retries,
        force,
        hidden,
        wait_lock,
        progress_for,
        outcome if outcome is not None else MirrorOutcome(),
    )
    pool = Connections(stall_timeout, keep_alive=True)
    try:
        await job.folder(pool, top, dest, 0)  # the top listing's errors are the command's
    except HttpStatusError as exc:
        if exc.status == 404 and top is not source:  # "NAME -r": NAME/ is not there
            await _file_instead(pool, source)
        raise
    finally:
        pool.close()
    tasks = [asyncio.create_task(job.worker()) for _ in range(max(1, workers))]
    done = asyncio.create_task(job.queue.join())
    committing = job.commits.start()  # ends early only by raising: the mirror stops then
    try:
        await asyncio.wait([done, committing, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                task.result()  # a worker only ends by raising: a bug, not a file's failure
    finally:
        for task in [done, *tasks]:
            task.cancel()
        await asyncio.gather(done, *tasks, return_exceptions=True)
        await job.commits.finish()  # also when interrupted: verified files keep their names
    _closing_notices(job.outcome, report)
    return job.outcome


def _closing_notices(outcome: MirrorOutcome, report: Emit) -> None:
    """What the mirror left as it was, counted once at its end."""
    if outcome.odd_mtimes:
        count = outcome.odd_mtimes
        report(
            Notice(
                f"{count} listed modification {'time was' if count == 1 else 'times were'} "
                "not a time (NaN, negative, beyond 2242 or not a number): "
                "those files keep the time they were written"
            )
        )
    if outcome.dot_files_unlisted:
        report(
            Notice(
                "the server lists no dot-files or dot-folders, so none were mirrored "
                "(pigeon serve lists them only with its --hidden)"
            )
        )
    if outcome.hidden:
        count = outcome.hidden
        report(
            Notice(
                f"skipped {count} hidden {'entry' if count == 1 else 'entries'} "
                "(dot-files and dot-folders; --hidden includes them)"
            )
        )
