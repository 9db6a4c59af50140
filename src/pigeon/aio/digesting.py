"""SHA-256 digests for ``pigeon serve``: one computation per file version, shared and bounded.

Answers never wait for a whole-file hash before their first byte. A digest is either known
(``fs.digests.DigestCache``: memory, then the on-disk store), cheap (files up to ``INLINE``
are hashed on the request path: at most a few milliseconds), or computed *alongside* the
send: a ``Computation`` reads the file with pread in ``CHUNK`` steps in a worker thread while
sendfile sends it, and the answer carries the digest in its trailer (``aio.serve_files``).

- One computation per file version (``Digests.running``): concurrent answers, listings
  (``?digest=sha-256``) and ranged answers for that version all join it.
- A computation followed by a sender reads at most ``AHEAD`` bytes past the furthest sender
  (the page cache is hot for whichever comes second: the file is read from disk once) and a
  sender waits when it is ``BEHIND`` bytes past the hashing. With nobody waiting on it (its
  client cut the connection, or a ranged answer started it) a computation goes on in the
  background: one chunk at a time through a semaphore of one, so background hashing uses at
  most one thread, and at most ``MAX_IDLE`` such computations exist (more are dropped).
- A computation ends with an fstat of its descriptor: a file changed meanwhile (another
  version) gives no digest (``None``), and the answers that followed it are cut short.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import threading
import time

from pigeon.fs.digests import DigestCache, DigestKey, digest_key, sha256_fd
from pigeon.fs.root import OpenFile

CHUNK = 4 << 20
AHEAD = 16 << 20
BEHIND = 64 << 20
INLINE = 4 << 20
"""Files up to this size are hashed before answering (~2 ms): no trailer needed."""
MAX_IDLE = 16
SLACK = 1 << 30
"""Hashing a ranged answer's trailer may still wait for when its body ends (about a second
at one core's SHA-256 rate)."""
WORKERS = 2
_buffers = threading.local()


def _buffer() -> bytearray:
    """A worker thread's own read buffer (bounded by the number of workers)."""
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK)
    return buf


def _hash_all(files: list[OpenFile]) -> list[bytes | None]:
    """In a worker thread: the SHA-256 of each small file, None for one changed meanwhile."""
    out: list[bytes | None] = []
    for file in files:
        digest = sha256_fd(file.fd, file.st.st_size)
        out.append(digest if digest_key(os.fstat(file.fd)) == digest_key(file.st) else None)
    return out


class Computation:
    """The SHA-256 of one file version, hashed in order by a driver task."""

    def __init__(self, owner: Digests, file: OpenFile) -> None:
        self.owner = owner
        self.key = digest_key(file.st)
        self.size = file.st.st_size
        self.observed = time.time()
        self.hashed = 0
        self.followers: dict[Follow, int] = {}  # -> file position each has reached
        self.result: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._fd = os.dup(file.fd)
        self._hash = hashlib.sha256()
        self._job: concurrent.futures.Future[int] | None = None
        self._wake = asyncio.Event()
        self._step = asyncio.Event()
        self.task = asyncio.create_task(self._run())
        self.task.add_done_callback(self._ended)

    def _limit(self) -> int:
        if not self.followers:
            return self.size
        return min(self.size, max(self.followers.values()) + AHEAD)

    def _read(self, offset: int, count: int) -> int:
        """In a worker thread: hash ``count`` bytes from ``offset``; returns how many there were."""
        view = memoryview(_buffer())[:count]
        got = 0
        while got < count:
            n = os.preadv(self._fd, [view[got:]], offset + got)
            if n == 0:
                break
            got += n
        self._hash.update(view[:got])
        return got

    async def _chunk(self, count: int) -> int:
        self._job = self.owner.pool.submit(self._read, self.hashed, count)
        return await asyncio.wrap_future(self._job)

    async def _run(self) -> bytes | None:
        try:
            while self.hashed < self.size:
                limit = self._limit()
                if self.hashed >= limit:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                count = min(CHUNK, limit - self.hashed)
                if self.followers:
                    n = await self._chunk(count)
                else:
                    async with self.owner.background:
                        n = await self._chunk(count)
                self.hashed += n
                self._step.set()
                self._step = asyncio.Event()
                if n < count:
                    return None  # the file got shorter: another version
            if digest_key(os.fstat(self._fd)) != self.key:
                return None
        except OSError:
            return None
        return self._hash.digest()

    def _ended(self, task: asyncio.Task[bytes | None]) -> None:
        """The driver ended (done, failed or cancelled, maybe before it started)."""
        digest = None if task.cancelled() or task.exception() else task.result()
        fd, job = self._fd, self._job
        if job is not None and not job.done():  # cancelled mid-chunk: the thread still reads
            job.add_done_callback(lambda _job: os.close(fd))
        else:
            os.close(fd)
        self._step.set()
        self.owner.finished(self, digest)


class Follow:
    """One answer sending a span of a file whose digest a computation is making."""

    def __init__(self, computation: Computation, start: int, paced: bool) -> None:
        self.computation = computation
        self.start = start
        self.paced = paced
        computation.followers[self] = start if paced else computation.size
        computation._wake.set()

    async def sent(self, count: int) -> None:
        """``count`` bytes of the span are sent; waits while too far ahead of the hashing."""
        if not self.paced:
            return
        comp = self.computation
        position = self.start + count
        if self in comp.followers:
            comp.followers[self] = position
            comp._wake.set()
        while position - comp.hashed > BEHIND and not comp.result.done():
            await comp._step.wait()

    async def digest(self, file: OpenFile, within: float | None) -> bytes | None:
        """The digest once the span is sent: None when the file changed (or took too long)."""
        comp = self.computation
        if self in comp.followers:
            comp.followers[self] = comp.size
            comp._wake.set()
        try:
            async with asyncio.timeout(within):
                digest = await asyncio.shield(comp.result)
        except TimeoutError:
            return None
        if digest is None or digest_key(os.fstat(file.fd)) != comp.key:
            return None  # the answer's own descriptor may have outlived the computation
        return digest

    def leave(self) -> None:
        """The answer ended (sent, cut or failed): the computation goes on without it."""
        comp = self.computation
        if comp.followers.pop(self, None) is not None:
            comp._wake.set()
            if not comp.followers:
                comp.owner.went_idle(comp)


class Digests:
    """The digests of one ``pigeon serve``: known ones and those being computed."""

    def __init__(self, cache: DigestCache) -> None:
        self.cache = cache
        self.pool = concurrent.futures.ThreadPoolExecutor(WORKERS, "pigeon-sha256")
        self.background = asyncio.Semaphore(1)
        self.running: dict[DigestKey, Computation] = {}
        self.computations = 0
        """How many hashes of whole files were started (inline or shared): for tests."""

    def known(self, file: OpenFile) -> bytes | None:
        """The digest of ``file``'s version when it is already known."""
        return self.cache.get(digest_key(file.st))

    def start(self, file: OpenFile) -> None:
        """Begin (or keep) hashing ``file`` in the background, for whoever asks next."""
        comp = self._computation(file)
        if not comp.followers:
            self.went_idle(comp)

    async def for_answer(
        self, file: OpenFile, start: int, count: int, trailer_ok: bool
    ) -> tuple[bytes | None, Follow | None]:
        """What an answer sending ``count`` bytes from ``start`` carries: a digest header, a
        computation to follow for a trailer, or neither (then one goes on in the background).

        A whole-file answer hashes alongside its own send. A ranged one (a resume) follows the
        same shared computation, which hashes the whole file unpaced while the range goes
        out, when the hashing left is at most the bytes to send plus ``SLACK``: its trailer
        then waits for at most about a second of hashing once the body ends, and a resumed
        download is verified even after a server restart or of a file written too recently
        for its digest to be kept. A small range of a huge file is answered without one.
        """
        found = self.known(file)
        if found is not None:
            return found, None
        if file.st.st_size <= INLINE:
            return await self._inline(file), None
        comp = self._computation(file)
        if trailer_ok and comp.size - comp.hashed <= count + SLACK:
            paced = start == 0 and count == comp.size
            return None, Follow(comp, start, paced)
        self.start(file)
        return None, None

    async def listed(self, files: list[OpenFile]) -> list[bytes | None]:
        """The digests a listing shows for ``files``: known ones, and small ones hashed now,
        all in one worker job (a folder of thousands of small files costs one hand-off, not
        one per file); a large unknown one is None and starts hashing in the background."""
        found: list[bytes | None] = [self.known(f) for f in files]
        todo = [i for i, f in enumerate(files) if found[i] is None and f.st.st_size <= INLINE]
        for i, file in enumerate(files):
            if found[i] is None and file.st.st_size > INLINE:
                self.start(file)
        if todo:
            observed = time.time()
            self.computations += len(todo)
            loop = asyncio.get_running_loop()
            hashed = await loop.run_in_executor(self.pool, _hash_all, [files[i] for i in todo])
            for i, digest in zip(todo, hashed, strict=True):
                if digest is not None:
                    self.cache.put(digest_key(files[i].st), digest, observed)
                found[i] = digest
        return found

    async def _inline(self, file: OpenFile) -> bytes:
        observed = time.time()
        self.computations += 1
        loop = asyncio.get_running_loop()
        digest = await loop.run_in_executor(self.pool, sha256_fd, file.fd, file.st.st_size)
        key = digest_key(file.st)
        if digest_key(os.fstat(file.fd)) == key:
            self.cache.put(key, digest, observed)
        return digest

    def _computation(self, file: OpenFile) -> Computation:
        key = digest_key(file.st)
        comp = self.running.get(key)
        if comp is None:
            comp = self.running[key] = Computation(self, file)
            self.computations += 1
        return comp

    def went_idle(self, comp: Computation) -> None:
        """Nobody waits on ``comp`` any more: it goes on in the background, within bounds."""
        idle = sum(1 for c in self.running.values() if not c.followers)
        if idle > MAX_IDLE:
            comp.task.cancel()

    def finished(self, comp: Computation, digest: bytes | None) -> None:
        """Called by a computation as it ends: keep the digest, wake who waits."""
        if self.running.get(comp.key) is comp:
            del self.running[comp.key]
        if digest is not None:
            self.cache.put(comp.key, digest, comp.observed)
        if not comp.result.done():
            comp.result.set_result(digest)

    async def close(self) -> None:
        """Stop every computation (the server stops)."""
        tasks = [c.task for c in self.running.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.cache.store is not None:
            self.cache.store.close()
