"""pigeon serve's remembered answers: identical request heads answered without h11, never stale.

The server runs in this process on an event loop whose clock the test moves on (``Served``):
its wall clock runs ``SETTLED`` seconds ahead when files should look settled (so nothing waits
for them to settle), and idle time passes when the test says so. Sockets and files are real.
Each answer is one ``RequestServed`` event, marking those remembered: that is how these tests
see that the fast lane was taken (and when it must not have been).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pigeon.aio.serve import FileServer
from pigeon.aio.serve_io import ServeClock
from pigeon.config import ServeConfig
from pigeon.events import Event, RequestServed
from pigeon.proto.http.memo import SETTLED

A = os.urandom(3000)
B = os.urandom(5000)


def head(path: str, *extra: str, method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Client:
    """A raw keep-alive connection that reads HTTP/1.1 answers (Content-Length framed)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def answer(self, *, body: bool = True) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
        length = int(headers.get("content-length", "0")) if body else 0
        while len(self.buf) < length:
            self._fill()
        data, self.buf = self.buf[:length], self.buf[length:]
        return int(status_line.split()[1]), headers, data

    def close(self) -> None:
        self.sock.close()


class MovableLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves on when the test says (its timers then fire)."""

    moved = 0.0

    def time(self) -> float:
        return super().time() + self.moved


class Served:
    """A ``FileServer`` on its own thread and movable loop; its wall clock is ``ahead``."""

    def __init__(self, root: Path, ahead: float, idle_timeout: float) -> None:
        self.loop = MovableLoop()
        self.events: list[Event] = []
        cfg = ServeConfig(root=str(root), bind="127.0.0.1", idle_timeout=idle_timeout)
        self.clock = ServeClock(lambda: time.time() + ahead + self.loop.moved)
        self.stop = asyncio.Event()
        ready = threading.Event()
        ports: list[int] = []

        async def main() -> None:
            state = FileServer(cfg, self.events.append, self.clock)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            server = await state.listen(sock)
            ports.append(sock.getsockname()[1])
            ready.set()
            await self.stop.wait()
            server.close()
            await state.shutdown()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(main(),))
        self.thread.start()
        assert ready.wait(10)
        self.port = ports[0]

    def move_on(self, seconds: float) -> None:
        """Let ``seconds`` pass on the server's clocks at once."""
        moved = threading.Event()

        def move() -> None:
            self.loop.moved += seconds
            moved.set()

        self.loop.call_soon_threadsafe(move)
        assert moved.wait(5)

    def log(self, wanted: int) -> list[RequestServed]:
        """The access-log records, once ``wanted`` of them were made."""
        deadline = time.monotonic() + 10
        while True:
            records = [e for e in self.events if isinstance(e, RequestServed)]
            if len(records) >= wanted or time.monotonic() > deadline:
                return records
            time.sleep(0.01)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)
        self.loop.close()


def start(root: Path, *, settled: bool = True, idle_timeout: float = 30.0) -> Iterator[Served]:
    """A server whose files look settled at once (``settled``) or as old as they are."""
    served = Served(root, SETTLED + 0.2 if settled else 0.0, idle_timeout)
    try:
        yield served
    finally:
        served.close()


@pytest.fixture(scope="module")
def memo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("memo")
    (root / "a.bin").write_bytes(A)
    (root / "b.bin").write_bytes(B)
    (root / "secret-outside").mkdir()
    (root / "secret-outside" / "s.txt").write_bytes(b"outside")
    return root


@pytest.fixture
def server(memo_root: Path) -> Iterator[Served]:
    yield from start(memo_root)


def test_repeated_heads_get_the_same_answer_from_memory(server: Served) -> None:
    client = Client(server.port)
    answers = []
    for _ in range(6):
        client.sock.sendall(head("/a.bin"))
        answers.append(client.answer())
    client.close()
    assert all(status == 200 and body == A for status, _, body in answers)
    assert all(headers == answers[0][1] for _, headers, _ in answers)
    records = server.log(6)
    # remembered once asked again: the first two answers are made, the rest remembered
    assert [r.remembered for r in records] == [False, False] + [True] * 4
    assert all(r.path == "/a.bin" and r.sent == len(A) for r in records)


def test_a_changed_file_is_answered_anew_at_once(tmp_path: Path) -> None:
    target = tmp_path / "c.bin"
    target.write_bytes(b"1" * 4000)
    for server in start(tmp_path):
        client = Client(server.port)
        for _ in range(3):
            client.sock.sendall(head("/c.bin"))
            _, first_headers, body = client.answer()
            assert body == b"1" * 4000
        target.write_bytes(b"2" * 4000)  # same size, same second: only ctime/mtime tell
        client.sock.sendall(head("/c.bin"))
        status, headers, body = client.answer()
        assert (status, body) == (200, b"2" * 4000)
        assert headers["etag"] != first_headers["etag"]
        client.close()
        records = server.log(4)
        assert [r.remembered for r in records] == [False, False, True, False]


def test_a_file_swapped_for_a_link_outside_or_removed_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    target = root / "d.bin"
    target.write_bytes(b"d" * 100)
    for server in start(root):
        client = Client(server.port)
        for _ in range(3):
            client.sock.sendall(head("/d.bin"))
            assert client.answer()[2] == b"d" * 100
        assert server.log(3)[-1].remembered
        target.unlink()
        target.symlink_to(tmp_path / "secret.txt")
        client.sock.sendall(head("/d.bin"))
        status, _, body = client.answer()
        assert status == 403 and b"SECRET" not in body
        target.unlink()
        client.sock.sendall(head("/d.bin"))
        assert client.answer()[0] == 404
        client.close()


def test_pipelined_heads_known_and_unknown_are_answered_in_order(server: Served) -> None:
    client = Client(server.port)
    for _ in range(2):
        client.sock.sendall(head("/a.bin"))  # asked again: remembered from here on
        assert client.answer()[2] == A
    batch = [
        (head("/a.bin"), A),
        (head("/a.bin"), A),
        (head("/b.bin"), B),  # not yet remembered: h11 takes over from here
        (head("/a.bin"), A),
        (head("/a.bin", "Range: bytes=10-19"), A[10:20]),
        (head("/b.bin"), B),
    ]
    client.sock.sendall(b"".join(h for h, _ in batch))
    got = [client.answer()[2] for _ in batch]
    assert got == [want for _, want in batch]
    client.sock.sendall(head("/a.bin", method="HEAD") + head("/a.bin"))
    status, headers, body = client.answer(body=False)
    assert (status, headers["content-length"], body) == (200, str(len(A)), b"")
    assert client.answer()[2] == A
    client.close()
    assert len(server.log(2 + len(batch) + 2)) == 2 + len(batch) + 2


def test_a_head_split_across_segments_is_still_answered(server: Served) -> None:
    client = Client(server.port)
    request = head("/a.bin")
    for _ in range(3):
        client.sock.sendall(request[:7])
        time.sleep(0.05)
        client.sock.sendall(request[7:])
        assert client.answer()[2] == A
    client.close()


def test_a_client_that_stops_reading_gets_every_answer_later(server: Served) -> None:
    """Remembered answers stop being queued once the client lags; h11 then waits for it."""
    client = Client(server.port)
    for _ in range(2):  # asked again: remembered from here on
        client.sock.sendall(head("/a.bin"))
        client.answer()
    count = 3000  # 9 MB of answers to a client that reads nothing for a while
    client.sock.sendall(head("/a.bin") * count)
    time.sleep(1.0)
    other = Client(server.port)  # the server still serves others meanwhile
    other.sock.sendall(head("/b.bin"))
    assert other.answer()[2] == B
    other.close()
    assert all(client.answer()[2] == A for _ in range(count))
    client.close()
    records = server.log(2 + count + 1)
    remembered = sum(r.remembered for r in records)
    # the lane sent answers while the client kept up, then handed the rest to h11
    assert 0 < remembered < count, remembered


def test_idle_time_counts_from_the_last_remembered_answer(memo_root: Path) -> None:
    for server in start(memo_root, idle_timeout=1.0):
        client = Client(server.port)
        for _ in range(8):  # 2.4 s of remembered answers on a 1 s idle timeout
            client.sock.sendall(head("/a.bin"))
            assert client.answer()[2] == A
            server.move_on(0.3)
        assert sum(r.remembered for r in server.log(8)) == 6  # all but the first two
        server.move_on(1.6)
        client.sock.settimeout(5)
        assert client.sock.recv(1) == b""  # then idle: closed
        client.close()


def test_fresh_files_and_closing_heads_are_not_remembered(tmp_path: Path) -> None:
    (tmp_path / "new.bin").write_bytes(b"n" * 10)
    os.utime(tmp_path / "new.bin", (0, 0))  # long unmodified, but its metadata just changed
    for server in start(tmp_path, settled=False):
        client = Client(server.port)
        for _ in range(3):
            client.sock.sendall(head("/new.bin"))
            assert client.answer()[2] == b"n" * 10
        client.close()
        for _ in range(2):
            closing = Client(server.port)
            closing.sock.sendall(head("/new.bin", "Connection: close"))
            assert closing.answer()[2] == b"n" * 10
            closing.close()
        records = server.log(5)
        assert len(records) == 5 and not any(r.remembered for r in records)
        server.move_on(SETTLED + 0.2)  # now settled: remembered from the next answer on
        client = Client(server.port)
        for _ in range(3):
            client.sock.sendall(head("/new.bin"))
            assert client.answer()[2] == b"n" * 10
        client.close()
        assert [r.remembered for r in server.log(8)[5:]] == [False, True, True]


def test_curl_and_wget_see_identical_files_through_remembered_answers(server: Served) -> None:
    url = f"http://127.0.0.1:{server.port}/a.bin"
    for _ in range(3):
        got = subprocess.run(["curl", "-sf", url, url], capture_output=True, check=True).stdout
        assert got == A + A
    got = subprocess.run(["wget", "-qO-", url], capture_output=True, check=True).stdout
    assert got == A
    assert any(r.remembered for r in server.log(7))
