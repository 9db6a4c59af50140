"""The README's examples and every ``--help`` example, run as written.

Each example line is run exactly as printed, through a shell, with ``pigeon`` on the PATH,
in a folder holding the files it names, against the peer it needs on this machine (a
listener on the fixed port it names, on loopback). Examples that need a second machine (a
LAN address, a host name, a name found by broadcast) or that broadcast cannot run here: each
must match one of ``ELSEWHERE``'s reasons, so a new example is either run or said why not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import PIGEON, Background, source_root

pytestmark = pytest.mark.interop

COMMANDS = [
    ["udp", "send"],
    ["udp", "recv"],
    ["tcp", "connect"],
    ["tcp", "listen"],
    ["serve"],
    ["get"],
    ["chat"],
    ["send"],
    ["peers"],
    ["ip"],
    ["ping"],
]

ELSEWHERE = [
    (re.compile(r"192\.168\.|10\.0\.0\.|fe80::|\bhost\b|THIS-HOST"), "a second machine"),
    (re.compile(r"pigeon (send|chat) alice|pigeon chat --name"), "a name found by broadcast"),
    (re.compile(r"^pigeon peers( --timeout 5)?( --json)*$"), "broadcasts"),
    (re.compile(r"^make "), "the Quick start (run from a fresh clone before a release)"),
]


def _readme_lines() -> list[str]:
    text = (source_root() / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines += [line for line in block.splitlines() if line.strip()]
    return lines


def _help_lines() -> list[str]:
    lines = []
    for words in COMMANDS:
        helped = subprocess.run(
            [*PIGEON, *words, "--help"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        example = helped.partition("\nexample:\n")[2].split("\n\n")[0]
        lines += [line.strip() for line in example.splitlines() if line.strip()]
    return lines


def _command(line: str) -> str:
    """The line without its trailing comment (a ``#`` outside quotes, after spaces)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    try:
        list(lexer)
    except ValueError:
        return line.strip()
    cut = re.search(r"\s{2,}#|\s#\s", line)
    return (line[: cut.start()] if cut else line).strip()


EXAMPLES = sorted({_command(line) for line in _readme_lines() + _help_lines()})


# ----- running one example ------------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "HOME": str(home)}


def shell(line: str, cwd: Path, *, stdin: bytes = b"", timeout: float = 30) -> bytes:
    """Run ``line`` as written; its stdout (it must exit 0)."""
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=cwd,
        env=_env(cwd),
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (line, done.stderr.decode(errors="replace"))
    assert b"Traceback" not in done.stderr
    return done.stdout


@contextlib.contextmanager
def running(line: str, cwd: Path, ready: bytes = b"listening on") -> Iterator[Background]:
    """``line`` as written, in the background (a server) once it says ``ready``; stopped
    afterwards. (Waiting for its line, not probing its port: a probe would be the one
    client of ``--once``, and a bind probe is fooled by a connection in TIME_WAIT.)"""
    proc = Background(["bash", "-c", f"exec {line}"], cwd=cwd, env=_env(cwd))
    try:
        proc.wait_for(ready, timeout=15)
        yield proc
    finally:
        proc.stop()
        assert b"Traceback" not in proc.err, proc.err


def udp_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(10)
    return sock


def free(port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> None:
    """The example names this port: it must be free here (CI: always). A connection the
    last example left in TIME_WAIT does not count (servers bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET6, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("::", port))


# ----- the examples, each with the peer it needs --------------------------------------------


def udp_recv(line: str, tmp: Path) -> None:
    free(7788, socket.SOCK_DGRAM)
    with running(line, tmp, b'"listening"' if "--json" in line else b"listening on") as recv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto("你好".encode(), ("127.0.0.1", 7788))
        recv.wait_for("你好".encode(), stream="out")


def udp_send(expect: list[bytes], host: str, *, reply: bool = False) -> Callable[[str, Path], None]:
    def run(line: str, tmp: Path) -> None:
        with udp_socket(host, 7788) as peer:
            if reply:
                with running(line, tmp, b"") as sender:
                    data, addr = peer.recvfrom(65536)
                    peer.sendto(b"thank you", addr)
                    sender.wait_for(b"thank you", stream="out")
                    got = [data]
            else:
                shell(line, tmp)
                got = [peer.recvfrom(65536)[0] for _ in expect]
        assert got == expect

    return run


def tcp_listen_reply(line: str, tmp: Path) -> None:
    free(7788)
    with running(line, tmp):
        for host in ("127.0.0.1", "::1"):
            with socket.create_connection((host, 7788), timeout=10) as sock:
                sock.sendall(b"hi")
                assert sock.recv(100) == b"thank you !"


def tcp_listen_echo(line: str, tmp: Path) -> None:
    free(7788)
    with running(line, tmp), socket.create_connection(("::1", 7788), timeout=10) as sock:
        sock.sendall(b"echo me")
        assert sock.recv(100) == b"echo me"


def tcp_connect_send(line: str, tmp: Path) -> None:
    free(7788)
    with running('pigeon tcp listen --reply "thank you !"', tmp):
        assert shell(line, tmp).endswith(b"thank you !")


def raw_backup(line: str, tmp: Path) -> None:
    """``tcp listen --raw --once > backup.tar``, then the tar pipeline of the help."""
    free(9000)
    (tmp / "docs").mkdir()
    (tmp / "docs" / "notes.txt").write_bytes(os.urandom(100_000))
    with running(line, tmp) as listener:
        shell("tar c docs | pigeon tcp connect [::1] 9000", tmp)
        assert listener.proc.wait(timeout=30) == 0
    listed = subprocess.run(["tar", "tf", "backup.tar"], cwd=tmp, capture_output=True, check=True)
    assert b"docs/notes.txt" in listed.stdout


def raw_send_file(line: str, tmp: Path) -> None:
    """``tcp listen --raw --once < notes.txt``, then ``tcp connect [::1] 9000 > copy.txt``."""
    free(9000)
    (tmp / "notes.txt").write_bytes(b"notes\n" * 1000)
    with running(line, tmp) as listener:
        shell("pigeon tcp connect [::1] 9000 > copy.txt", tmp)
        assert listener.proc.wait(timeout=30) == 0
    assert (tmp / "copy.txt").read_bytes() == (tmp / "notes.txt").read_bytes()


def tar_into_listener(line: str, tmp: Path) -> None:
    raw_backup("pigeon tcp listen --port 9000 --raw --once > backup.tar", tmp)


def serve_here(line: str, tmp: Path) -> None:
    free(7890)
    share = tmp / "Public" if "~/Public" in line else tmp
    share.mkdir(exist_ok=True)
    (share / "file").write_bytes(b"served\n")
    with running(line, tmp):
        got = subprocess.run(
            ["curl", "-sSf", "http://127.0.0.1:7890/file"], capture_output=True, check=True
        )
        assert got.stdout == b"served\n"


def get_big_iso(line: str, tmp: Path) -> None:
    free(8000)
    share = tmp / "share"
    share.mkdir()
    (share / "big.iso").write_bytes(os.urandom(3 << 20))
    target = Path("/tmp/big.iso")  # noqa: S108 (the help example writes there)
    target.unlink(missing_ok=True)
    try:
        with running(f"pigeon serve {share} --port 8000 --bind ::1", tmp):
            shell(line, tmp)
        assert target.read_bytes() == (share / "big.iso").read_bytes()
    finally:
        target.unlink(missing_ok=True)


def ping_serve(line: str, tmp: Path) -> None:
    free(7890)
    with running(f"pigeon serve {tmp}", tmp):
        out = shell(line, tmp, timeout=60)
        assert out.count(b"connected to [::1]:7890") == 10


def ip_show(line: str, tmp: Path) -> None:
    out = shell(line, tmp)
    assert b"127.0.0.1" in out or b"lo" in out


def chat_to_2425(line: str, tmp: Path) -> None:
    """The example greets a chat on 2425 from 2426 (its stdin ends: it then says goodbye)."""
    free(2425, socket.SOCK_DGRAM)
    free(2426, socket.SOCK_DGRAM)
    bob = "pigeon chat --no-broadcast --keep-open --json --port 2425 --name bob"
    with running(bob, tmp, b"chat on udp port") as peer:
        shell(line, tmp)
        peer.wait_for(b'"type": "peer"', timeout=15)


def peers_of_2426(line: str, tmp: Path) -> None:
    free(2426, socket.SOCK_DGRAM)
    carol = "pigeon chat --no-broadcast --keep-open --port 2426 --name carol"
    with running(carol, tmp, b"chat on udp port") as peer:
        assert b"carol" in shell(line, tmp)
        assert peer.proc.poll() is None


def plain_send(line: str, tmp: Path) -> None:
    with udp_socket("127.0.0.1", 7890) as peer:
        shell(line, tmp)
        assert peer.recvfrom(65536)[0] == b"hi\n"


RUNNERS: dict[str, Callable[[str, Path], None]] = {
    "pigeon udp recv --port 7788": udp_recv,
    "pigeon udp recv --count 1 --json": udp_recv,
    "printf 'a\\nb\\n' | pigeon udp send ::1 7788": udp_send([b"a", b"b"], "::1"),
    "printf 'a\\nb\\n' | pigeon udp send 127.0.0.1 7788": udp_send([b"a", b"b"], "127.0.0.1"),
    "pigeon udp send [::1]:7788 你好": udp_send(["你好".encode()], "::1"),
    "pigeon udp send ::1 7788 你好 --encoding gbk --wait 3": udp_send(
        ["你好".encode("gbk")], "::1", reply=True
    ),
    'pigeon tcp listen --reply "thank you !"': tcp_listen_reply,
    'pigeon tcp listen --port 7788 --reply "thank you !"': tcp_listen_reply,
    "pigeon tcp listen --echo": tcp_listen_echo,
    "pigeon tcp connect [::1]:7788 --send hello": tcp_connect_send,
    "pigeon tcp listen --port 9000 --raw --once > backup.tar": raw_backup,
    "pigeon tcp listen --port 9000 --raw --once < notes.txt": raw_send_file,
    "tar c docs | pigeon tcp connect [::1] 9000": tar_into_listener,
    "pigeon serve": serve_here,
    "pigeon serve ~/Public": serve_here,
    "pigeon get [::1]:8000 big.iso -o /tmp/": get_big_iso,
    "pigeon ping [::1]:7890 -c 10": ping_serve,
    "pigeon ip": ip_show,
    "pigeon ip --json": ip_show,
    "pigeon chat --no-broadcast --port 2426 127.0.0.1:2425": chat_to_2425,
    "pigeon peers --no-broadcast 127.0.0.1:2426": peers_of_2426,
    "pigeon send 127.0.0.1:7890 hi --plain": plain_send,
}


def test_every_example_is_run_or_says_why_not() -> None:
    unplaced = [
        line
        for line in EXAMPLES
        if line not in RUNNERS and not any(rule.search(line) for rule, _ in ELSEWHERE)
    ]
    assert not unplaced, f"examples neither run here nor needing elsewhere: {unplaced}"
    stale = [line for line in RUNNERS if line not in EXAMPLES]
    assert not stale, f"runners for examples no longer shown: {stale}"


@pytest.mark.parametrize("line", sorted(RUNNERS))
def test_example_runs_as_written(line: str, tmp_path: Path) -> None:
    RUNNERS[line](line, tmp_path)
    time.sleep(0.1)  # the fixed ports it used are free again for the next example
