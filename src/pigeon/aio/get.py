"""``pigeon get``: download over HTTP/1.1 (h11 on pigeon's own socket), resumable and verified.

Bytes go to ``<name>.part`` while hashed; the size must match Content-Length and, when the
server sends ``Repr-Digest``, the SHA-256 must match; only then fsync and an atomic rename.
A connection lost mid-body keeps the .part and its sidecar; the next attempt (automatic
retries with exponential backoff, or a later run) continues with Range + If-Range.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import h11

from pigeon import __version__
from pigeon.aio.bulk import Consume, receive_exactly, unexpected_bytes
from pigeon.aio.events import Emit, Notice
from pigeon.aio.sockets import resolve
from pigeon.aio.tcp import connect_socket, open_tcp
from pigeon.errors import (
    ConnectionLost,
    ConnectionRefused,
    DestinationExists,
    HttpStatusError,
    IntegrityError,
    NetworkError,
    ProtocolError,
    TimedOut,
)
from pigeon.fs.partfile import PartFile, PartInfo, make_folder
from pigeon.proto.http_fields import parse_http_date
from pigeon.proto.local_names import safe_local_name
from pigeon.proto.source import Source, parse_source, resolve_location

READ_SIZE = 1 << 20
MAX_HEAD = 64 * 1024
MAX_REDIRECTS = 5
RETRYABLE = (ConnectionLost, TimedOut, ConnectionRefused)
Progress = Callable[[int, int | None], None]


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


@dataclass(slots=True)
class _Response:
    status: int
    headers: dict[str, str]
    conn: h11.Connection
    sock: socket.socket


async def _request(source: Source, headers: list[tuple[str, str]], within: float) -> _Response:
    target = (await resolve(source.host, source.port, socket.SOCK_STREAM))[0]
    sock = await connect_socket(target, within)
    try:
        return await _exchange(sock, source, headers, within)
    except BaseException:
        sock.close()
        raise


async def _exchange(
    sock: socket.socket, source: Source, headers: list[tuple[str, str]], within: float
) -> _Response:
    loop = asyncio.get_running_loop()
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    all_headers = [
        ("Host", source.host_header),
        ("User-Agent", f"pigeon/{__version__}"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
        *headers,
    ]
    request = conn.send(h11.Request(method="GET", target=source.target, headers=all_headers))
    request += conn.send(h11.EndOfMessage()) or b""
    try:
        async with asyncio.timeout(within):
            await loop.sock_sendall(sock, request or b"")
    except TimeoutError:
        raise TimedOut(f"{source.url}: the server took no request for {within:g}s") from None
    except OSError as exc:
        raise ConnectionLost(f"{source.url}: connection lost ({exc.strerror})") from exc
    while True:
        event = await _next_event(conn, sock, within, source)
        if isinstance(event, h11.Response):
            fields = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            return _Response(event.status_code, fields, conn, sock)
        if isinstance(event, h11.ConnectionClosed):
            raise ConnectionLost(f"{source.url}: the server closed without answering")


async def _next_event(
    conn: h11.Connection, sock: socket.socket, within: float, source: Source, *, fill: bool = True
) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
    """The next h11 event, reading from ``sock`` as needed (with ``fill`` off, NEED_DATA
    comes back instead of a read)."""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if "without sending complete message body" in str(exc) or "peer closed" in str(exc):
                raise ConnectionLost(f"{source.url}: connection lost mid-transfer") from exc
            raise ProtocolError(f"{source.url}: bad HTTP from the server ({exc})") from exc
        if event is not h11.NEED_DATA or not fill:
            return event
        try:
            async with asyncio.timeout(within):
                data = await asyncio.get_running_loop().sock_recv(sock, READ_SIZE)
        except TimeoutError:
            raise TimedOut(f"{source.url}: the server sent nothing for {within:g}s") from None
        except OSError as exc:
            raise ConnectionLost(f"{source.url}: connection lost ({exc.strerror})") from exc
        conn.receive_data(data)


def _stages(part: PartFile | None, hasher: Any, stream: BinaryIO | None) -> list[Consume]:
    """Where received bytes go: the .part's writing and hashing, or ``stream`` and ``hasher``.
    ``bulk`` runs them side by side; ``_in_turn`` runs them one after the other."""
    if part is not None:
        return list(part.stages())
    assert stream is not None
    return [stream.write, hasher.update]


def _in_turn(stages: list[Consume]) -> Callable[[bytes | memoryview], None]:
    """Every stage on ``data``, in order, on this thread (bodies that h11 hands over)."""

    def consume(data: bytes | memoryview) -> None:
        view = memoryview(data)
        for stage in stages:
            stage(view)

    return consume


def _counted(resp: _Response) -> bool:
    """True when the body is framed by Content-Length alone (no transfer coding)."""
    return "transfer-encoding" not in resp.headers and "content-length" in resp.headers


async def _receive_rest(
    sock: socket.socket,
    base: int,
    total: int,
    stages: list[Consume],
    job: _Fetch,
    source: Source,
) -> int:
    """Receive body bytes ``base`` to ``total`` with ``bulk``; errors become pigeon errors."""
    progress = job.progress

    def report(got: int) -> None:
        if progress is not None:
            progress(base + got, total)

    try:
        return await receive_exactly(
            sock, total - base, stages, within=job.within, progress=report if progress else None
        )
    except TimeoutError:
        raise TimedOut(f"{source.url}: the server sent nothing for {job.within:g}s") from None
    except BrokenPipeError:
        raise  # our own output (stdout) went away: main() handles it quietly
    except OSError as exc:
        raise ConnectionLost(f"{source.url}: connection lost ({exc.strerror})") from exc


def _destination(source: Source, dest: str | Path | None) -> Path | None:
    if dest is not None and str(dest) == "-":
        return None
    name = safe_local_name(source.name)
    if dest is None:
        return Path.cwd() / name
    path = Path(dest)
    return path / name if path.is_dir() else path


def _stream_target(dest: str | Path | None) -> BinaryIO | None:
    """Where to stream instead of writing a file: stdout for ``-``, or an existing device or
    FIFO such as /dev/null (never replaced by a rename, as a .part would do)."""
    if dest is None:
        return None
    if str(dest) == "-":
        return sys.stdout.buffer
    path = Path(dest)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISBLK(mode):
        return path.open("wb", buffering=0)
    return None


def _expected_digest(headers: dict[str, str]) -> bytes | None:
    for item in headers.get("repr-digest", "").split(","):
        algo, _, value = item.strip().partition("=")
        if algo.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            try:
                return base64.b64decode(value[1:-1], validate=True)
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class _Fetch:
    """One download's fixed settings, shared by every attempt and its receive step."""

    source: Source
    final: Path | None  # None: streamed into ``stream`` instead
    stream: BinaryIO | None
    verify: bool
    force: bool
    progress: Progress | None
    emit: Emit
    within: float


async def _attempt(job: _Fetch, *, resume: bool) -> DownloadResult:
    source, final, within = job.source, job.final, job.within
    part = PartFile(final) if final is not None else None
    info = part.resumable(source.url) if part is not None and resume else None
    have = part.usable_length(info) if part is not None and info is not None else 0
    headers = [("Want-Repr-Digest", "sha-256=1")]
    if have and info is not None and info.etag:
        headers += [("Range", f"bytes={have}-"), ("If-Range", info.etag)]
    current = source
    for _ in range(MAX_REDIRECTS + 1):
        resp = await _request(current, headers, within)
        if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
            resp.sock.close()
            current = resolve_location(current, resp.headers["location"])
            continue
        break
    else:
        raise ProtocolError(f"{source.url}: more than {MAX_REDIRECTS} redirects")
    try:
        if resp.status == 416 and have:
            # The .part cannot be continued (not the file's beginning): start over.
            job.emit(Notice(f"{source.url}: the partial download cannot be resumed; restarting"))
            assert part is not None
            part.discard()
            resp.sock.close()
            return await _attempt(job, resume=False)
        return await _receive(job, resp, current, part, info, have)
    finally:
        resp.sock.close()


async def _receive(
    job: _Fetch,
    resp: _Response,
    source: Source,
    part: PartFile | None,
    info: PartInfo | None,
    have: int,
) -> DownloadResult:
    """Check the response, stream the body into the .part (or stream), verify, commit.

    ``source`` is where the request finally went (after redirects), not ``job.source``.
    """
    stream, verify, force, progress = job.stream, job.verify, job.force, job.progress
    emit, within = job.emit, job.within
    if resp.status not in (200, 206):
        raise HttpStatusError(f"{source.url}: the server answered {resp.status}", resp.status)
    length_text = resp.headers.get("content-length")
    length = int(length_text) if length_text and length_text.isdigit() else None
    offset = 0
    if resp.status == 206:
        unit, _, spec = resp.headers.get("content-range", "").partition(" ")
        start = spec.partition("-")[0]
        if unit != "bytes" or not start.isdigit() or int(start) != have:
            raise ProtocolError(f"{source.url}: the server sent a range that was not asked for")
        offset = have
    elif have:
        emit(Notice(f"{source.url}: the file changed on the server; restarting from zero"))
    total = None if length is None else offset + length
    etag = resp.headers.get("etag")
    expected = _expected_digest(resp.headers) if verify else None
    if part is not None:
        if part.final.exists() and not force and offset == 0:
            same = _same_file(part.final, total, expected)
            if same is not None:
                emit(Notice(f"{part.final.name} is already here and identical (sha256)"))
                return DownloadResult(part.final, same[0], same[1].hex(), 0, True)
            raise DestinationExists(f"{part.final} exists and differs; use --force to replace it")
        part.open(resume=offset > 0)
        if offset:
            emit(Notice(f"resuming {part.final.name} from byte {offset}"))
        part.record(PartInfo(source.url, etag, total))
        hasher = part.hasher
    else:
        hasher = hashlib.sha256()

    stages = _stages(part, hasher, stream)
    consume = _in_turn(stages)
    written = offset
    longer = False
    counted = total is not None and _counted(resp)
    try:
        while True:
            event = await _next_event(resp.conn, resp.sock, within, source, fill=not counted)
            if isinstance(event, h11.Data):
                consume(event.data)
                written += len(event.data)
                if progress is not None:
                    progress(written, total)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                longer = bool(resp.conn.trailing_data[0])
                break
            elif event is h11.NEED_DATA and total is not None:
                # Content-Length framing, and h11 (which parsed the head) holds no more body:
                # the rest is a known number of raw bytes, received off the event loop.
                written += await _receive_rest(resp.sock, written, total, stages, job, source)
                longer = unexpected_bytes(resp.sock)
                break
    finally:
        if part is not None:
            part.close()
    if stream is not None:
        stream.flush()
    if longer:
        _fail(part)
        raise IntegrityError(f"{source.url}: the server sent more bytes than it announced")
    if total is not None and written != total:
        raise ConnectionLost(f"{source.url}: connection lost after {written} of {total} bytes")
    digest = hasher.digest()
    if expected is not None and digest != expected:
        _fail(part)
        raise IntegrityError(
            f"{source.url}: SHA-256 mismatch: the download is corrupt and was deleted"
        )
    if part is not None:
        modified = parse_http_date(resp.headers.get("last-modified", ""))
        part.commit(modified)
    return DownloadResult(
        part.final if part else None, written, digest.hex(), offset, expected is not None
    )


def _same_file(path: Path, total: int | None, expected: bytes | None) -> tuple[int, bytes] | None:
    """(size, digest) when ``path`` is provably the server's file: same size and SHA-256."""
    if expected is None or total is None or not path.is_file() or path.stat().st_size != total:
        return None
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_SIZE):
            hasher.update(chunk)
    digest = hasher.digest()
    return (total, digest) if digest == expected else None


def _fail(part: PartFile | None) -> None:
    if part is not None:
        part.discard()


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
    emit: Emit | None = None,
) -> DownloadResult:
    """Download ``source`` to ``dest`` (a file, a folder, ``"-"`` for stdout, or None: here).

    Args:
        source: ``host``, ``host:port/path`` parsed already, or an ``http://`` URL.
        dest: where to write; the name comes from the URL, made safe, when a folder is given.
        resume: continue a ``.part`` left by an earlier run of the same URL.
        verify: check the server's Repr-Digest (SHA-256) when it sends one.
        progress: called with (bytes so far, total or None).
        retries: attempts after a lost connection or a timeout, with exponential backoff.
        force: replace an existing file of the same name.
        stall_timeout: seconds of silence before an attempt counts as failed.
        emit: receives notices (resuming, retrying, restarting).

    Returns:
        DownloadResult.

    Raises:
        IntegrityError, HttpStatusError, DestinationExists, NetworkError, ProtocolError.
    """
    src = parse_source(source) if isinstance(source, str) else source
    report: Emit = emit or (lambda _event: None)
    stream = _stream_target(dest)
    final = None if stream is not None else _destination(src, dest)
    try:
        job = _Fetch(src, final, stream, verify, force, progress, report, stall_timeout)
        return await _download_with_retries(job, resume=resume, retries=retries)
    finally:
        if stream is not None and stream is not sys.stdout.buffer:
            stream.close()


async def _download_with_retries(job: _Fetch, *, resume: bool, retries: int) -> DownloadResult:
    """Attempts with exponential backoff; every retry resumes from the .part."""
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            return await _attempt(job, resume=resume or attempt > 0)
        except RETRYABLE as exc:
            if attempt == retries or job.final is None:
                raise
            job.emit(Notice(f"{exc}; retrying in {delay:g}s ({attempt + 1}/{retries})"))
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
    stream = _stream_target(dest)
    final = None if stream else _destination(Source(source.host, source.port, "/" + name), dest)
    if final is not None and final.exists() and not force:
        raise DestinationExists(f"{final} exists; use --force to replace it")
    target = (await resolve(source.host, source.port, socket.SOCK_STREAM))[0]
    reader, writer = await open_tcp(target, stall_timeout)
    part = PartFile(final) if final is not None else None
    hasher = hashlib.sha256()
    written = 0
    try:
        writer.write(name.encode("utf-8"))
        await writer.drain()
        if part is not None:
            part.open(resume=False)
            hasher = part.hasher
        consume = _in_turn(_stages(part, hasher, stream))
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
            consume(data)
            written += len(data)
    except BaseException:
        _fail(part)
        raise
    finally:
        writer.close()
        if stream is not None and stream is not sys.stdout.buffer:
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
    elif stream is sys.stdout.buffer:
        stream.flush()
    return DownloadResult(final, written, hasher.digest().hex(), 0, False)


MAX_LISTING = 16 << 20
MAX_DEPTH = 32


async def _fetch_listing(source: Source, within: float) -> list[dict[str, object]]:
    """The JSON listing of a folder (``?format=json&digest=sha-256``), bounded in size."""
    target = source.target.partition("?")[0].rstrip("/") + "/?format=json&digest=sha-256"
    listing_source = Source(source.host, source.port, target)
    resp = await _request(listing_source, [("Accept", "application/json")], within)
    try:
        if resp.status != 200:
            raise HttpStatusError(f"{source.url}: the listing answered {resp.status}", resp.status)
        body = bytearray()
        while True:
            event = await _next_event(resp.conn, resp.sock, within, listing_source)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_LISTING:
                    raise ProtocolError(f"{source.url}: listing larger than {MAX_LISTING} bytes")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    finally:
        resp.sock.close()
    try:
        doc = json.loads(bytes(body))
        entries = doc["entries"]
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ProtocolError(f"{source.url}: not a pigeon JSON listing") from None
    return [e for e in entries if isinstance(e, dict)]


def _local_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


async def mirror_async(
    source: Source,
    dest: Path,
    *,
    force: bool = False,
    retries: int = 4,
    stall_timeout: float = 30.0,
    emit: Emit | None = None,
    progress_for: Callable[[str], Progress | None] | None = None,
    _depth: int = 0,
) -> list[DownloadResult]:
    """Mirror the folder at ``source`` into ``dest`` through its JSON listing.

    Creates the tree, skips files already complete and identical (size, and SHA-256 when the
    listing offers it), keeps modification times. Names that are not plain file names
    (``..``, ``/``, control characters) are refused and reported, never written.

    Raises:
        HttpStatusError, ProtocolError, NetworkError, IntegrityError, LocalWriteError.
    """
    report: Emit = emit or (lambda _event: None)
    if _depth > MAX_DEPTH:
        raise ProtocolError(f"{source.url}: folders nested deeper than {MAX_DEPTH}")
    make_folder(dest)
    results: list[DownloadResult] = []
    base = source.target.partition("?")[0].rstrip("/") + "/"
    for entry in await _fetch_listing(source, stall_timeout):
        name = entry.get("name")
        if not isinstance(name, str) or safe_local_name(name) != name:
            report(Notice(f"{source.url}: refused the listed name {name!r}: not a plain name"))
            continue
        child = Source(source.host, source.port, base + quote(name))
        local = dest / name
        if entry.get("type") == "dir":
            results += await mirror_async(
                child,
                local,
                force=force,
                retries=retries,
                stall_timeout=stall_timeout,
                emit=report,
                progress_for=progress_for,
                _depth=_depth + 1,
            )
            continue
        size, digest, mtime = entry.get("size"), entry.get("sha256"), entry.get("mtime")
        if (
            local.is_file()
            and local.stat().st_size == size
            and (digest is None or _local_digest(local) == digest)
        ):
            report(Notice(f"{local}: up to date"))
            continue
        result = await download_async(
            child,
            local,
            force=force,
            retries=retries,
            stall_timeout=stall_timeout,
            emit=report,
            progress=progress_for(name) if progress_for else None,
        )
        if isinstance(mtime, int | float):
            os.utime(local, (mtime, mtime))
        results.append(result)
    return results
