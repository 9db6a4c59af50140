"""Hostile datagrams at pigeon chat: nothing crashes, nothing reaches the terminal raw,
and one flooding address cannot starve the others."""

from __future__ import annotations

import socket
import time

from tests.chat_helpers import chat_argv, chat_peer, of_type, udp_port, wait_events
from tests.helpers import background, run_pigeon

ESC = b"\x1b"


def _packet(no: int, user: bytes, cmd: int, extra: bytes) -> bytes:
    return b"1_evil:%d:%s:host:%d:%s\0" % (no, user, cmd, extra)


HOSTILE = [
    b"",
    b"\x00" * 100,
    b"\xff\xfe\xfd" * 300,
    b"1:2:3",
    b"1:abc:u:h:32:text",
    b"1:1:u:h:32",
    _packet(1, b"\x1b[2J\x1b]0;pwned\x07", 0x01, b"\x1b[31mred\x1b[0m\0group\0"),  # BR_ENTRY
    _packet(2, b"mallory", 0x20 | 0x100, b"clear \x1b[2J\x1b[H screen \x9b31m"),  # SENDMSG
    _packet(3, b"mallory", 0x20, "bidi \u202e txt.exe".encode()),
    _packet(4, b"mallory", 0x21, b"not-a-number"),  # RECVMSG garbage
    _packet(5, b"mallory", 0x60, b"zz:yy:xx"),  # GETFILEDATA over UDP
    _packet(6, b"mallory", 0x79, b""),  # FeiQ typing
    _packet(7, b"mallory", 0x20, b"x" * 60000),  # huge
    b"A" * 65507,  # the largest UDP payload
]


def test_hostile_datagrams_are_shown_escaped_and_the_chat_goes_on() -> None:
    port = udp_port()
    argv = [a for a in chat_argv(port, "victim") if a != "--json"]
    with background(argv, stdin=True) as victim:
        victim.wait_for(b"chat on udp port")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as evil:
            for data in HOSTILE:
                evil.sendto(data, ("127.0.0.1", port))
            time.sleep(0.3)
        result = run_pigeon(
            ["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{port}", "still here?"]
        )
        assert result.returncode == 0, result.stderr
        victim.wait_for(b"still here?", stream="out")
        assert victim.proc.poll() is None
        shown = victim.out + victim.err
        assert ESC not in shown and b"\x9b" not in shown and b"\x07" not in shown
        assert "\u202e".encode() not in shown
        assert b"\\x1b[31mred\\x1b[0m" in shown  # a hostile nick, escaped and visible
        assert b"\\u202e" in shown
        assert b"more characters not shown" in shown  # a huge message is cut on screen
        assert b"Traceback" not in victim.err


def test_a_flood_from_one_address_does_not_starve_another() -> None:
    port = udp_port()
    with chat_peer(port, "target") as target:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood:
            flood.setblocking(False)
            sent = 0
            start = time.monotonic()
            while time.monotonic() - start < 1.0:
                try:
                    flood.sendto(b"spam %d" % sent, ("127.0.0.1", port))
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.001)
            for i in range(5):
                result = run_pigeon(
                    ["send", "--no-broadcast", "--port", "0", f"127.0.0.1:{port}", f"real {i}"]
                )
                assert result.returncode == 0, result.stderr
        got = wait_events(
            target,
            lambda e: e.get("type") == "message" and str(e["text"]).startswith("real"),
            count=5,
        )
        assert [e["text"] for e in got] == [f"real {i}" for i in range(5)]
        [report] = wait_events(target, of_type("flood"))[:1]
        assert int(str(report["dropped"])) > 0
        assert sent > 1000


def test_pigeon_send_refuses_a_bad_target_with_one_line() -> None:
    result = run_pigeon(["send", "--no-broadcast", "--port", "0", "127.0.0.1:99999", "x"])
    assert result.returncode == 3
    assert result.stderr.decode().count("\n") == 1 and b"out of range" in result.stderr
