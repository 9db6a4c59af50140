"""aio/bulk: the receive pump hands every byte to every stage in order, on time on a slow
link, keeps what arrived before an error, and stops a stage that failed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time

import pytest

from pigeon.aio import bulk


def _pump(sock: socket.socket, length: int, *stages: bulk.Consume) -> tuple[int, list[int]]:
    reports: list[int] = []
    got = bulk._pump(sock, length, stages, reports.append)
    return got, reports


def _send_then_close(sock: socket.socket, body: bytes) -> threading.Thread:
    def send() -> None:
        with contextlib.suppress(OSError):  # the receiver may stop reading first
            sock.sendall(body)
        sock.close()

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_every_byte_arrives_in_order_across_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BLOCK", 64 << 10)  # many turns of the ring
    body = os.urandom(1 << 20)
    a, b = socket.socketpair()
    sender = _send_then_close(a, body)
    digest = hashlib.sha256()
    copy = bytearray()
    got, reports = _pump(b, len(body), copy.extend, digest.update)
    sender.join()
    b.close()
    assert got == len(body)
    assert bytes(copy) == body  # each stage sees every byte, in order
    assert digest.digest() == hashlib.sha256(body).digest()
    assert reports == sorted(reports) and reports[-1] == len(body)


def test_a_stage_that_failed_takes_no_further_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write (disk full) must not be followed by the next buffer's write, which would
    leave a gap in the .part; the error reaches the caller."""
    monkeypatch.setattr(bulk, "BLOCK", 64 << 10)
    body = os.urandom(2 << 20)
    a, b = socket.socketpair()
    sender = _send_then_close(a, body)
    calls = 0

    def failing_write(view: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        time.sleep(0.01)  # slower than receiving: buffers queue up behind it

    with pytest.raises(OSError, match="No space"):
        _pump(b, len(body), failing_write, hashlib.sha256().update)
    b.close()
    sender.join()
    assert calls == 2


def test_a_slow_link_hands_over_a_partly_filled_buffer() -> None:
    """The first 100 KiB must reach the sink while the sender still waits: with an 8 MiB
    buffer held until full, the sender would give up after 5 s and send nothing more."""
    first, rest = os.urandom(100 << 10), os.urandom(50 << 10)
    arrived = threading.Event()
    seen = bytearray()
    a, b = socket.socketpair()

    def sender() -> None:
        a.sendall(first)
        if arrived.wait(5):
            a.sendall(rest)
        a.close()

    def consume(view: memoryview) -> None:
        seen.extend(view)
        if len(seen) >= len(first):
            arrived.set()

    thread = threading.Thread(target=sender)
    thread.start()
    got, reports = _pump(b, len(first) + len(rest), consume)
    thread.join()
    b.close()
    assert arrived.is_set()
    assert got == len(first) + len(rest) and bytes(seen) == first + rest
    assert reports[0] >= len(first) and reports[0] < got  # progress before the end


def test_bytes_before_a_timeout_are_kept_then_the_error_raised() -> None:
    a, b = socket.socketpair()
    a.sendall(b"x" * 1000)
    b.settimeout(0.3)
    seen = bytearray()
    with pytest.raises(TimeoutError):
        _pump(b, 10_000, seen.extend)
    assert bytes(seen) == b"x" * 1000
    a.close()
    b.close()


def test_a_peer_closing_early_returns_the_short_count() -> None:
    a, b = socket.socketpair()
    a.sendall(b"y" * 500)
    a.close()
    got, _ = _pump(b, 10_000, lambda view: None)
    b.close()
    assert got == 500
