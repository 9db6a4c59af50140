"""Hostile peers at pigeon chat, each attack against real chat processes on loopback: escape
codes in every line that names a peer, floods from many ports of one address, a crowd of
connections on the attachment port under a low file-descriptor limit, and impossible file
times in offers and folder streams."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import socket
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import Flooded
from pigeon.proto.chat.messenger import Messenger
from pigeon.proto.chat.outgoing import Identity
from pigeon.proto.chat.peers import PEER_LIMIT, PEERS_PER_HOST
from tests.chat_helpers import chat_argv, chat_peer, events, of_type, say, udp_port, wait_events
from tests.helpers import PIGEON, Background, background, require_tool
from tests.reliability.test_chat_files_hostile import fake_offerer

FAST_RETRIES = ["--retries", "2", "--retry-interval", "0.2"]


@contextlib.contextmanager
def limited_chat(port: int, name: str, peers: list[str], nofile: int) -> Iterator[Background]:
    """A chat peer (``--json``) started under ``prlimit --nofile``."""
    prlimit = require_tool("prlimit")
    proc = Background([prlimit, f"--nofile={nofile}", *chat_argv(port, name, peers)], stdin=True)
    try:
        wait_events(proc, of_type("notice", port=port))
        yield proc
    finally:
        proc.stop()


# --- the attachment port: a crowd of connections under a low descriptor limit ---------------


@pytest.mark.parametrize(
    ("nofile", "line"),
    [
        (256, "is the limit: more are cut"),  # the chat's own limits come first
        (40, "out of file descriptors"),  # below it, accept's back-off (as pigeon serve)
    ],
)
def test_a_crowd_on_the_attachment_port_is_one_line_and_the_chat_goes_on(
    tmp_path: Path, nofile: int, line: str
) -> None:
    shared = tmp_path / "shared.txt"
    shared.write_bytes(b"still served\n" * 1000)
    dest = tmp_path / "in"
    pv, pf = udp_port(), udp_port()
    with (
        limited_chat(pv, "victim", [f"127.0.0.1:{pf}"], nofile) as victim,
        chat_peer(pf, "friend", [f"127.0.0.1:{pv}"]) as friend,
    ):
        wait_events(victim, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "friend")  # type: ignore[index]
        crowd = []
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", pv))
            crowd.append(sock)
        time.sleep(2.5)  # accepting (and failing to, below the limit) goes on meanwhile
        for sock in crowd:
            sock.close()
        freed = time.monotonic()
        say(friend, "a message after the crowd")
        wait_events(victim, of_type("message", text="a message after the crowd"))
        message_ms = (time.monotonic() - freed) * 1000
        say(victim, f"/send {shared}")
        [offer] = wait_events(friend, of_type("offer", incoming=True))
        say(friend, f"/get {offer['index']} {dest}")
        wait_events(friend, of_type("transfer", state="received"), timeout=30)
        served_ms = (time.monotonic() - freed) * 1000
        assert victim.proc.poll() is None
    assert (dest / "shared.txt").read_bytes() == shared.read_bytes()
    said = [e for e in events(victim) if line in str(e.get("detail", e.get("text", "")))]
    assert len(said) == 1, victim.out.decode(errors="replace")[-3000:]
    err = victim.err.decode(errors="replace")
    assert "Traceback" not in err and "Too many open files" not in err, err[-3000:]
    print(
        f"nofile={nofile}: 300 connections, 1 line; after them a message in {message_ms:.0f} ms,"
        f" an attachment in {served_ms:.0f} ms"
    )


def test_one_host_holds_at_most_eight_attachment_connections_and_the_ninth_is_reset() -> None:
    """Eight silent connections from one host take eight slots; the ninth is reset (which a
    pigeon fetcher retries; a plain close would read as a refusal), and another host is
    still served."""
    port = udp_port()
    with chat_peer(port, "victim") as victim:
        wait_bound_tcp = time.monotonic() + 5
        held: list[socket.socket] = []
        while len(held) < 8 and time.monotonic() < wait_bound_tcp:
            with contextlib.suppress(ConnectionRefusedError):
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        try:
            ninth = socket.create_connection(("127.0.0.1", port), timeout=5)
            with ninth, pytest.raises(ConnectionResetError):
                ninth.recv(1)
            other = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
            with other:
                other.settimeout(0.5)
                with pytest.raises(TimeoutError):  # accepted, waiting for its request
                    other.recv(1)
        finally:
            for sock in held:
                sock.close()
        line = wait_events(victim, of_type("transfer", state="refused"))
        assert "(8 from one host) is the limit" in str(line[0]["detail"])


# --- escape codes in every line that names a peer ----------------------------------------

NICK = "\x1b]0;pwned\x07\x1b[2J\x1b[5;7mnick\x9b31m\u202eexe.txt\x07"
"""A nick that would retitle the window, clear the screen, blink, colour through the C1 CSI,
reverse the text (bidi override) and ring the bell, were it printed raw."""
GROUP = "\x1b[31mgroup\x07"
USER = b"\x1b[41muser\x07"
TEXT = "MSGMARK \x1b[2J\x9b2J\u202e\x07"
OFFER = 0x20 | 0x100 | 0x200000  # SENDMSG | SENDCHECKOPT | FILEATTACHOPT
HOSTILE_BYTES = (b"\x1b]", b"\x1b[2J", b"\x1b[5;7m", b"\x1b[31mgroup", b"\x1b[41m", b"\x07")
RAW_C1 = tuple(bytes([0xC2, c]) for c in range(0x80, 0xA0))  # U+0080..U+009F in UTF-8
BIDI = "\u202e".encode()


def _entry(number: int, command: int, nick: str) -> bytes:
    names = f"\nUN:u\nHN:h\nNN:{nick}\nGN:{GROUP}".encode()
    extra = nick.encode() + b"\0" + GROUP.encode() + b"\0" + names + b"\0"
    return b"1_evil:%d:%s:box:%d:%s" % (number, USER, command, extra)


def _packet(number: int, command: int, extra: bytes) -> bytes:
    return b"1_evil:%d:%s:box:%d:%s" % (number, USER, command, extra)


def assert_nothing_raw(shown: bytes, *, terminal: bool = False) -> None:
    """No escape sequence, bell, C1 control or bidi override from the peer reached the output.
    On a terminal the screen library writes escape sequences of its own, so there only the
    peer's are looked for; elsewhere no ESC at all may appear."""
    if not terminal:
        assert b"\x1b" not in shown
    for raw in (*HOSTILE_BYTES, *RAW_C1, BIDI):
        assert raw not in shown, (raw, shown[-3000:])


def _own_offer(udp: socket.socket) -> tuple[int, tuple[str, int]]:
    """The packet number and sender of the first offer (FILEATTACHOPT) the fake peer gets."""
    udp.settimeout(10)
    while True:
        data, addr = udp.recvfrom(65536)
        fields = data.split(b":", 5)
        if len(fields) == 6 and int(fields[4]) & 0x2000FF == 0x200020:  # SENDMSG, files
            return int(fields[1]), addr


class Needles:
    """What each step waits for: in a plain line (or on the terminal), and in JSON."""

    plain: ClassVar[dict[str, bytes]] = {
        "joined": b" joined (",
        "updated": b" updated",
        "message": b"MSGMARK",
        "refused": b" refused: ",
        "offer": b"(/get 2 [DEST]",
        "withdrew": b" withdrew offer #1",
        "failed": b"failed: ",
        "declined": b" declined offer #3",
        "peers": b"1 peer:",  # the fake, the one peer
        "history": b"(received)",
        "target": b"now talking to",
        "not delivered": b"NOT delivered",
        "left": b" left",
    }
    json: ClassVar[dict[str, bytes]] = {
        "joined": b'"change": "joined"',
        "updated": b'"change": "updated"',
        "message": b"MSGMARK",
        "refused": b" refused: ",
        "offer": b'"index": 2',
        "withdrew": b" withdrew offer #1",
        "failed": b'"state": "failed"',
        "declined": b" declined offer #3",
        "peers": b'"type": "peers"',
        "history": b'"type": "history"',
        "target": b'"type": "target"',
        "not delivered": b'"type": "not_delivered"',
        "left": b'"change": "left"',
    }


def walk_every_peer_line(
    udp: socket.socket,
    chat_port: int,
    type_line: Callable[[str], None],
    seen: Callable[[str], None],
    tmp_path: Path,
) -> None:
    """The fake peer on ``udp`` makes the chat print every kind of line that names a peer."""
    to = ("127.0.0.1", chat_port)
    udp.sendto(_entry(1, 0x01, NICK), to)  # BR_ENTRY: joined
    seen("joined")
    udp.sendto(_entry(2, 0x04, NICK + "2"), to)  # BR_ABSENCE, a new nick: updated
    seen("updated")
    udp.sendto(_packet(3, 0x20 | 0x100, TEXT.encode()), to)
    seen("message")
    udp.sendto(_packet(4, OFFER, b"offer\0" + b"0:../x:5:1:1:\a"), to)  # a bad name: refused
    seen("refused")
    udp.sendto(_packet(5, OFFER, b"\0" + b"0:w.txt:5:1:1:\a"), to)  # offer #1 ...
    udp.sendto(_packet(6, 0x61, b"5\0"), to)  # ... withdrawn
    seen("withdrew")
    udp.sendto(_packet(7, OFFER, b"\0" + b"0:f.txt:5:1:1:\a"), to)  # offer #2
    seen("offer")
    type_line(f"/get 2 {tmp_path / 'in'}")  # the fake serves 10 bytes of 5: failed
    seen("failed")
    shared = tmp_path / "mine.txt"
    shared.write_text("mine")
    type_line(f"/send {shared}")  # offer #3, which the fake declines
    number, _sender = _own_offer(udp)
    udp.sendto(_packet(8, 0x61, b"%d\0" % number), to)
    seen("declined")
    type_line("/peers")
    seen("peers")
    type_line("/history")
    seen("history")
    type_line(f"/to 127.0.0.1:{udp.getsockname()[1]}")
    seen("target")
    type_line("hello?")  # never acknowledged
    seen("not delivered")
    udp.sendto(_packet(9, 0x02, b""), to)  # BR_EXIT
    seen("left")


@pytest.mark.parametrize("json_output", [False, True])
def test_no_line_passes_a_peers_escape_codes_plain_or_json(
    tmp_path: Path, json_output: bool
) -> None:
    port = udp_port()
    with fake_offerer([b"0123456789"]) as (udp, fake_port):
        argv = chat_argv(port, "victim", [f"127.0.0.1:{fake_port}"], FAST_RETRIES)
        if not json_output:
            argv.remove("--json")
        with background(argv, stdin=True) as victim:
            victim.wait_for(b"chat on udp port")
            needles = Needles.json if json_output else Needles.plain

            def seen(step: str) -> None:
                victim.wait_for(needles[step], timeout=15)

            walk_every_peer_line(udp, port, lambda line: say(victim, line), seen, tmp_path)
    shown = victim.out + victim.err
    assert_nothing_raw(shown)
    assert b"Traceback" not in victim.err
    if json_output:  # the exact strings are still there for scripts
        docs = [json.loads(line) for line in victim.out.splitlines()]
        assert any(d.get("peer", {}).get("name") == NICK for d in docs if d["type"] == "peer")
        assert any(d.get("text") == TEXT for d in docs if d["type"] == "message")
    else:  # and people see them, escaped
        assert b"\\x1b]0;pwned\\x07" in shown and b"\\u202e" in shown


def test_pigeon_send_names_a_hostile_decliner_escaped(tmp_path: Path) -> None:
    shared = tmp_path / "mine.txt"
    shared.write_text("mine")
    with fake_offerer([]) as (udp, fake_port):
        for json_output in (False, True):
            argv = [*PIGEON, "send", "--no-broadcast", "--port", "0", f"127.0.0.1:{fake_port}"]
            argv += ["--file", str(shared), "--timeout", "10", *(["--json"] if json_output else [])]
            with background(argv) as sender:
                number, back = _own_offer(udp)
                udp.sendto(_entry(1, 0x01, NICK), back)
                time.sleep(0.2)
                udp.sendto(_packet(2, 0x61, b"%d\0" % number), back)
                code = sender.finish()
            assert code == 12, sender.err
            last = sender.err.splitlines()[-1]
            assert last.startswith(b"pigeon: ") and last.endswith(b" declined the files")
            assert b"Traceback" not in sender.err
            assert_nothing_raw(sender.out + sender.err)


@contextlib.contextmanager
def on_a_terminal(argv: list[str]) -> Iterator[tuple[Callable[[str], None], Callable[[], bytes]]]:
    """``argv`` on a pseudo-terminal (the interactive screen): a function typing a line, and
    one returning every byte written to the terminal so far."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    got = bytearray()

    def pump() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                got.extend(chunk)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def type_line(line: str) -> None:
        os.write(master, line.encode() + b"\r")

    try:
        yield type_line, lambda: bytes(got)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        os.close(master)


def test_no_line_on_the_interactive_screen_passes_a_peers_escape_codes(tmp_path: Path) -> None:
    port = udp_port()
    with fake_offerer([b"0123456789"]) as (udp, fake_port):
        argv = chat_argv(port, "victim", [f"127.0.0.1:{fake_port}"], FAST_RETRIES)
        argv.remove("--json")
        with on_a_terminal(argv) as (type_line, written):

            def seen(step: str) -> None:
                deadline = time.monotonic() + 15
                while Needles.plain[step] not in written():
                    assert time.monotonic() < deadline, (step, written()[-3000:])
                    time.sleep(0.02)

            seen("target")  # the screen is up
            walk_every_peer_line(udp, port, type_line, seen, tmp_path)
            shown = written()
    assert_nothing_raw(shown, terminal=True)
    assert b"\\x1b]0;pwned\\x07" in shown and b"Traceback" not in shown


# --- a flood from many ports of one address ----------------------------------------------


def _messenger() -> Messenger:
    ident = Identity(user="v", host="h", nick="victim", version="1_test")
    return Messenger(ident, first_packet_no=1000)


def test_the_peer_table_and_the_rate_limit_go_by_ip_with_a_cap_per_ip() -> None:
    victim = _messenger()
    named = ("10.0.0.9", 2425)
    entry = b"1_x:1:friend:pc:%d:friend\0\0" % ipmsg.BR_ENTRY
    victim.receive(entry, named, 0.0)
    floods = 0
    for i in range(6000):  # 1,200 ports, five datagrams each, within 0.6 s
        out = victim.receive(b"spam %d" % i, ("10.0.0.66", 20000 + i % 1200), i / 10_000)
        floods += sum(isinstance(o, Flooded) for o in out)
    assert floods == 1 and victim.dropped > 5000
    ips = [p.addr[0] for p in victim.peers()]
    assert ips.count("10.0.0.66") == PEERS_PER_HOST
    assert [p.name for p in victim.find("friend")] == ["friend"]  # not pushed out
    # several chats on one host stay distinct peers, up to the cap
    for port in range(PEERS_PER_HOST):
        victim.receive(b"1_x:%d:u%d:pc:%d:n%d\0\0" % (port, port, ipmsg.BR_ENTRY, port),
                       ("127.0.0.1", 3000 + port), 100.0 + port)  # fmt: skip
    local = [p for p in victim.peers() if p.addr[0] == "127.0.0.1"]
    assert sorted(p.name for p in local) == sorted(f"n{port}" for port in range(PEERS_PER_HOST))
    assert len(victim.peers()) <= PEER_LIMIT


def test_a_flood_from_many_ports_is_one_flood_and_cannot_push_out_a_named_peer() -> None:
    pv, pf = udp_port(), udp_port()
    # the friend is another host: 127.0.0.2 (loopback too); the flood comes from 127.0.0.1
    with (
        chat_peer(pv, "victim") as victim,
        chat_peer(pf, "friend", [f"127.0.0.1:{pv}"], ["--bind", "127.0.0.2"]) as friend,
    ):
        wait_events(victim, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "friend")  # type: ignore[index]
        ports = set()
        sent = 0
        start = time.monotonic()
        for i in range(1500):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
                flood.bind(("127.0.0.1", 0))
                ports.add(flood.getsockname()[1])
                for _ in range(4):
                    flood.sendto(b"spam %d" % i, ("127.0.0.1", pv))
                    sent += 1
            if i % 50 == 49:
                time.sleep(0.003)  # lets the chat drain its socket: the flood arrives whole
        flood_s = time.monotonic() - start
        say(friend, "still there?")
        wait_events(victim, of_type("message", text="still there?"))
        say(victim, "/to friend", "yes")  # by name: still in the table
        wait_events(friend, of_type("message", text="yes"))
        say(victim, "/peers")
        [table] = wait_events(victim, of_type("peers"))
    floods = [e for e in events(victim) if e.get("type") == "flood"]
    assert len(floods) == 1 and floods[0]["from"] == "127.0.0.1", floods
    listed = table["peers"]
    assert isinstance(listed, list)
    local = [p for p in listed if str(p["address"]).startswith("127.0.0.1:")]
    assert len(local) <= PEERS_PER_HOST and any(p["name"] == "friend" for p in listed)
    shown = sum(1 for e in events(victim) if e.get("type") == "message")
    print(
        f"{sent} datagrams from {len(ports)} ports in {flood_s:.2f} s: {len(floods)} flood"
        f" report, {shown - 1} shown, {len(local)} table entries for the flooding ip,"
        " the named peer kept"
    )


# --- impossible file times -----------------------------------------------------------------

HUGE = "f" * 40  # hex: far beyond what os.utime can set (it overflowed: OverflowError)


def _record(name: str, size: int, attr: int, mtime: str) -> bytes:
    """A folder record header with ``mtime`` written as given (encode_record would refuse)."""
    body = f":{name}:{size:x}:{attr:x}:14={mtime}:".encode()
    for width in range(1, 9):
        if len(f"{width + len(body):x}") == width:
            return f"{width + len(body):x}".encode() + body
    raise AssertionError("header too long")


@pytest.mark.parametrize("mtime", [HUGE, "-10"])
@pytest.mark.parametrize("folder", [False, True])
def test_an_impossible_file_time_is_ignored_and_the_file_kept(
    tmp_path: Path, mtime: str, folder: bool
) -> None:
    """The time of a file is noise next to its bytes: the file is received whole, with the
    time of its arrival, as for a peer that sends no time at all."""
    dest = tmp_path / "in"
    if folder:
        listing = f"0:top:0:{mtime}:2:\a".encode()
        answer = (
            _record("top", 0, 2, mtime)
            + _record("a.txt", 5, 1, mtime)
            + b"01234"
            + _record(".", 0, 3, "0")
        )
    else:
        listing = f"0:a.txt:5:{mtime}:1:\a".encode()
        answer = b"01234"
    port = udp_port()
    started = time.time()
    with chat_peer(port, "victim") as victim, fake_offerer([answer]) as (udp, _p):
        udp.sendto(_packet(7, OFFER, b"take this\0" + listing), ("127.0.0.1", port))
        [shown] = wait_events(victim, of_type("offer", incoming=True))
        say(victim, f"/get {shown['index']} {dest}")
        top = "top" if folder else "a.txt"
        wait_events(victim, of_type("transfer", state="received", file=top))
        time.sleep(0.2)  # anything else it would say
        notes = [e for e in events(victim) if e.get("type") == "transfer"]
    assert victim.err.count(b"Traceback") == 0, victim.err
    assert not [e for e in notes if e["state"] == "failed"], notes
    assert len([e for e in notes if e["state"] == "received"]) == (2 if folder else 1), notes
    kept = dest / "top" / "a.txt" if folder else dest / "a.txt"
    assert kept.read_bytes() == b"01234"
    assert started - 5 < kept.stat().st_mtime < time.time() + 5  # the time of arrival
    assert not list(dest.rglob("*.part*"))


def test_a_folder_stream_cut_inside_a_file_leaves_no_part(tmp_path: Path) -> None:
    """A folder cannot be resumed (GETDIRFILES has no offset): the file cut halfway goes."""
    dest = tmp_path / "in"
    answer = _record("top", 0, 2, "0") + _record("a.txt", 10, 1, "0") + b"01234"
    port = udp_port()
    with chat_peer(port, "victim") as victim, fake_offerer([answer]) as (udp, _p):
        udp.sendto(_packet(7, OFFER, b"\0" + b"0:top:0:0:2:\a"), ("127.0.0.1", port))
        [shown] = wait_events(victim, of_type("offer", incoming=True))
        say(victim, f"/get {shown['index']} {dest}")
        [failed] = wait_events(victim, of_type("transfer", state="failed"))
    assert "ended early" in str(failed["detail"]) and b"Traceback" not in victim.err
    assert not list(dest.rglob("*.part*"))
