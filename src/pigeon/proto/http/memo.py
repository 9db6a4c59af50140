"""Answers remembered for request heads seen before, byte for byte (sans-I/O).

h11 parses every new request head. When a later head is identical, byte for byte, to one h11
already parsed and pigeon answered from a small file, the answer is the same as long as the
file is the same version; so ``pigeon serve`` sends the remembered bytes after one stat, with
no parsing and no building. An answer is remembered the second time its head is asked
(``asked_again``): most heads of a crawl come once, and remembering them would cost each
request work for nothing. This module decides which heads and answers qualify and keeps them
in a bounded LRU; looking at the file is the caller's I/O.

Soundness rests on three rules:

- A head qualifies only if h11 parsed it as exactly one complete GET/HEAD request with no body
  and nothing that changes the connection (HTTP/1.1, no Connection, Expect, Upgrade,
  Content-Length or Transfer-Encoding), and its only head terminator is at its end: then a
  buffer that starts with it starts with that very request, and the exchange leaves h11's
  state where it was (idle, ready for the next request).
- An answer is remembered with the file's version: (device, inode, size, mtime_ns, ctime_ns).
  Every change to a file's content or metadata sets its ctime to the current time.
- An answer is remembered only when the file's mtime and ctime were already ``SETTLED``
  seconds old when it was read, so a change in the same clock tick as the read (file system
  timestamps are coarse) cannot leave the version looking unchanged. As git does for its
  "racily clean" index entries.

The one field that changes with time, ``Date``, is rewritten in place when the second changes
(``Remembered.dated``): its value always has the same length.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

import h11

from pigeon.proto.versions import Version

HEAD_END = b"\r\n\r\n"
SETTLED = 1.0
"""Seconds a file must have been unchanged before an answer from it is remembered."""
MAX_HEAD = 4096
MAX_ENTRIES = 1024
MAX_BYTES = 32 << 20
MAX_SEEN = 16_384
"""Request heads whose first sighting is remembered (by hash) before the set starts over."""
_BARRED_HEADERS = frozenset(
    {b"connection", b"expect", b"upgrade", b"content-length", b"transfer-encoding"}
)


@dataclass(frozen=True, slots=True)
class Remembered:
    """One remembered answer, and what the access log says of it."""

    path: str
    version: Version
    response: bytes
    method: str
    target: str
    status: int
    body_bytes: int
    date_at: int = -1
    """Where the ``Date`` value starts in ``response`` (-1: none)."""

    def dated(self, date: bytes) -> Remembered:
        """This answer with ``date`` as its ``Date`` (itself when that is already it)."""
        at = self.date_at
        if at < 0 or self.response[at : at + len(date)] == date:
            return self
        response = self.response[:at] + date + self.response[at + len(date) :]
        return replace(self, response=response)


def date_offset(response: bytes) -> int:
    """Where the value of the ``Date`` header starts in a response head (-1: none)."""
    head = response[: response.find(HEAD_END)]
    at = head.find(b"\r\nDate: ")
    return at + 8 if at >= 0 else -1


def head_qualifies(raw: bytes, request: h11.Request) -> bool:
    """Whether ``raw`` is exactly the one bodiless, state-neutral head h11 parsed as ``request``."""
    if len(raw) > MAX_HEAD or raw.find(HEAD_END) != len(raw) - 4:
        return False
    if b"\n\n" in raw or b"\n\r\n" in raw[:-2]:  # h11 also ends heads at bare newlines
        return False
    if request.method not in (b"GET", b"HEAD") or request.http_version != b"1.1":
        return False
    return not any(name in _BARRED_HEADERS for name, _ in request.headers)


class ResponseMemo:
    """Bounded LRU from raw request heads to remembered answers."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._entries: OrderedDict[bytes, Remembered] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._seen: set[int] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def asked_again(self, head: bytes) -> bool:
        """Whether ``head`` was seen before: an answer is remembered from the second time its
        head is asked, so a crawl that asks for each name once (a mirror) spends nothing on
        remembering. Heads are seen by their hash: two heads that share one are only
        remembered a request early."""
        key = hash(head)
        if key in self._seen:
            return True
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen.add(key)
        return False

    def get(self, head: bytes) -> Remembered | None:
        """The answer remembered for ``head``, if any (the caller still checks the version)."""
        entry = self._entries.get(head)
        if entry is not None:
            self._entries.move_to_end(head)
            self.hits += 1
        return entry

    def put(self, head: bytes, entry: Remembered) -> None:
        """Remember ``entry`` for ``head``, evicting the least recently used beyond the bounds."""
        size = len(head) + len(entry.response)
        if size > self._max_bytes:
            return
        self.forget(head)
        self._entries[head] = entry
        self.bytes += size
        while len(self._entries) > self._max_entries or self.bytes > self._max_bytes:
            old_head, old = self._entries.popitem(last=False)
            self.bytes -= len(old_head) + len(old.response)

    def forget(self, head: bytes) -> None:
        """Drop what is remembered for ``head`` (the file changed or went away)."""
        old = self._entries.pop(head, None)
        if old is not None:
            self.bytes -= len(head) + len(old.response)
