"""A hostile IP Messenger peer offering files: bodies longer or shorter than offered, and
offers whose names try to leave the destination. Nothing wrong is ever kept."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import free_port

OFFER = 0x20 | 0x100 | 0x200000  # SENDMSG | SENDCHECKOPT | FILEATTACHOPT


@contextlib.contextmanager
def fake_offerer(answers: list[bytes]) -> Iterator[tuple[socket.socket, int]]:
    """A UDP socket and, on the same port number, a TCP server answering each file request
    with the next of ``answers`` (then closing)."""
    port = free_port()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen()
    tcp.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        left = list(answers)
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(left.pop(0) if left else b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield udp, port
    finally:
        stop.set()
        thread.join(timeout=5)
        udp.close()
        tcp.close()


def offer(udp: socket.socket, chat_port: int, listing: bytes, number: int = 7) -> None:
    udp.sendto(
        b"1_fake:%d:mallory:box:%d:take this\0%s" % (number, OFFER, listing),
        ("127.0.0.1", chat_port),
    )


def test_a_body_longer_than_offered_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    dest = tmp_path / "in"
    port = udp_port()
    with chat_peer(port, "victim") as victim, fake_offerer([b"0123456789"]) as (udp, _p):
        offer(udp, port, b"0:f.txt:5:1:1:\a")
        [shown] = wait_events(victim, of_type("offer", incoming=True))
        say(victim, f"/get {shown['index']} {dest}")
        [failed] = wait_events(victim, of_type("transfer", state="failed"))
        assert "sent more than the 5 bytes it announced (nothing kept)" in str(failed["detail"])
    assert not (dest / "f.txt").exists()
    assert not list(dest.glob("*.part*"))


def test_a_body_shorter_than_offered_is_a_cut_and_never_final(tmp_path: Path) -> None:
    dest = tmp_path / "in"
    port = udp_port()
    with chat_peer(port, "victim") as victim, fake_offerer([b"012"]) as (udp, _p):
        offer(udp, port, b"0:f.txt:5:1:1:\a")
        [shown] = wait_events(victim, of_type("offer", incoming=True))
        say(victim, f"/get {shown['index']} {dest}")
        [failed] = wait_events(victim, of_type("transfer", state="failed"), timeout=30)
        assert "connection lost after 3 of 5 bytes" in str(failed["detail"]) or "refused" in str(
            failed["detail"]
        )
    assert not (dest / "f.txt").exists()  # the .part stays for a later resume, never the name
    assert (dest / "f.txt.part").read_bytes() == b"012"


def test_offers_with_escaping_names_are_refused(tmp_path: Path) -> None:
    port = udp_port()
    with chat_peer(port, "victim") as victim, fake_offerer([]) as (udp, _p):
        for number, listing in enumerate(
            [
                b"0:../escape.txt:5:1:1:\a",
                b"0:/etc/passwd:5:1:1:\a",
                b"0:a\\b:1:1:1:\a",
                b"0:x:zz:1:1:\a",
            ]
        ):
            offer(udp, port, listing, number=100 + number)
        notices = wait_events(
            victim, lambda e: e.get("type") == "notice" and "refused" in str(e.get("text")), count=4
        )
        assert all(str(n["text"]).startswith("offer from mallory refused:") for n in notices)
        assert not [e for e in events(victim) if e.get("type") == "offer"]
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_peer_offering_in_a_loop_is_held_to_64_waiting_offers() -> None:
    """Offers wait for /get in a table: one host's beyond 64 are refused, in one line."""
    port = udp_port()
    with chat_peer(port, "victim") as victim, fake_offerer([]) as (udp, _p):
        for number in range(100):
            offer(udp, port, b"0:file%d.txt:5:1:1:\a" % number, number=1000 + number)
            time.sleep(0.006)  # under the chat's flood limit: each one is an offer
        notices = wait_events(
            victim, lambda e: e.get("type") == "notice" and "refused" in str(e.get("text"))
        )
        time.sleep(0.3)
        offers = [e for e in events(victim) if e.get("type") == "offer"]
        refusals = [e for e in events(victim) if "too many offers" in str(e.get("text"))]
        assert len(offers) == 64, len(offers)
        assert len(refusals) == 1 and notices[0] in refusals
        say(victim, "/cancel 1")  # one declined: room for one more
        time.sleep(0.2)
        offer(udp, port, b"0:late.txt:5:1:1:\a", number=5000)
        wait_events(victim, of_type("offer"), count=65)
