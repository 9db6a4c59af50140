"""One address grammar for every command that reaches a peer: tcp connect, udp send, ping, get.

Each form (``HOST PORT``, ``HOST:PORT``, ``[V6]:PORT``, ``::1 PORT``, names, get's
``HOST:PORT/path``) is run against a real socket on loopback; a bad destination port (0,
70000, ``x``) is exit 3 in one line with nothing sent.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port, one_line_error, run_pigeon, udp_receiver
from tests.interop.serve_fixtures import Served

pytestmark = pytest.mark.interop


def peer_words(form: str, host: str, port: int) -> list[str]:
    """The command-line words naming ``host``:``port`` in ``form``."""
    bracketed = f"[{host}]" if ":" in host else host
    return {
        "HOST PORT": [host, str(port)],
        "[V6] PORT": [bracketed, str(port)],
        "HOST:PORT": [f"{bracketed}:{port}"],
    }[form]


FORMS = [
    ("127.0.0.1", "HOST PORT"),
    ("127.0.0.1", "HOST:PORT"),
    ("::1", "HOST PORT"),  # ::1 7788
    ("::1", "[V6] PORT"),
    ("::1", "HOST:PORT"),  # [::1]:7788
    ("localhost", "HOST PORT"),
    ("localhost", "HOST:PORT"),
]
BAD_PORTS = [("0", "0 cannot be reached"), ("70000", "out of range"), ("x", "not a number")]


@contextmanager
def tcp_listener(host: str) -> Iterator[tuple[socket.socket, int]]:
    """A listening TCP socket on ``host`` (``localhost`` listens on 127.0.0.1, which pigeon
    tries first)."""
    bind = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((bind, 0))
        server.listen(8)
        server.settimeout(10)
        yield server, int(server.getsockname()[1])


@pytest.mark.parametrize(("host", "form"), FORMS)
def test_tcp_connect_takes_every_form(host: str, form: str) -> None:
    with tcp_listener(host) as (server, port):
        got: list[bytes] = []

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while chunk := conn.recv(100):
                    data += chunk
                got.append(data)
                conn.sendall(b"ok")

        thread = threading.Thread(target=answer)
        thread.start()
        result = run_pigeon(["tcp", "connect", *peer_words(form, host, port), "--send", "hello"])
        thread.join(10)
    assert (result.returncode, result.stdout) == (0, b"ok"), result.stderr
    assert got == [b"hello"]


@pytest.mark.parametrize(("host", "form"), FORMS)
def test_udp_send_takes_every_form(host: str, form: str) -> None:
    """``udp send 127.0.0.1:PORT hi`` used to take ``hi`` for the port ("required: PORT")."""
    with udp_receiver("127.0.0.1" if host == "localhost" else host) as receiver:
        port = int(receiver.getsockname()[1])
        result = run_pigeon(["udp", "send", *peer_words(form, host, port), "hi", "there"])
        assert result.returncode == 0, result.stderr
        assert [receiver.recv(100), receiver.recv(100)] == [b"hi", b"there"]


@pytest.mark.parametrize(("host", "form"), FORMS)
def test_ping_takes_every_form(host: str, form: str) -> None:
    with tcp_listener(host) as (_server, port):
        result = run_pigeon(["ping", *peer_words(form, host, port), "-c", "1"])
    assert result.returncode == 0, result.stderr
    reached = "[::1]" if ":" in host else "127.0.0.1"
    assert f"connected to {reached}:{port}: seq=1".encode() in result.stdout
    assert b", 1 connected," in result.stdout


def test_ping_default_port_still_applies() -> None:
    result = run_pigeon(["ping", "127.0.0.1", "-c", "1", "--timeout", "1"])
    assert b"127.0.0.1:7890" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "words",
    [
        ["{h}:{p}", "small.txt"],  # the form that worked
        ["{h}:{p}/small.txt"],  # HOST:PORT/path ("port '8000/' is not a number" before)
        ["{h}:{p}/", "small.txt"],
        ["{h}:{p}/sub/", "深/nested.txt"],
        ["{h}:{p}/name with spaces 中文.txt"],
        ["http://{h}:{p}/small.txt"],
    ],
)
@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_get_takes_every_form(served: Served, tmp_path: Path, host: str, words: list[str]) -> None:
    args = [w.format(h=host, p=served.port) for w in words]
    result = run_pigeon(["get", *args, "-o", "-", "-q"])
    assert result.returncode == 0, result.stderr
    wanted = args[-1].rpartition("/")[2] if len(args) == 1 else args[-1]
    assert result.stdout == next(served.root.rglob(wanted)).read_bytes()


def test_python_download_takes_host_port_path(served: Served, tmp_path: Path) -> None:
    import pigeon

    result = pigeon.download(f"127.0.0.1:{served.port}/small.txt", tmp_path / "x.txt")
    assert (tmp_path / "x.txt").read_bytes() == b"hello pigeon\n" and result.verified


@pytest.mark.parametrize(("port", "words"), BAD_PORTS)
@pytest.mark.parametrize("form", ["HOST PORT", "HOST:PORT", "[V6]:PORT"])
def test_udp_send_bad_port_is_exit_3_and_sends_nothing(port: str, words: str, form: str) -> None:
    host = "::1" if form == "[V6]:PORT" else "127.0.0.1"
    peer = [host, port] if form == "HOST PORT" else [f"{'[::1]' if ':' in host else host}:{port}"]
    with udp_receiver(host) as receiver:
        receiver.settimeout(0.3)
        result = run_pigeon(["udp", "send", *peer, "hi"])
        with pytest.raises(TimeoutError):
            receiver.recv(100)
    assert result.returncode == 3
    assert words in one_line_error(result)
    assert b"sent" not in result.stderr + result.stdout


@pytest.mark.parametrize(("port", "words"), BAD_PORTS)
@pytest.mark.parametrize(
    "command",
    [
        ["tcp", "connect", "{peer}", "--send", "hi"],
        ["ping", "{peer}", "-c", "1"],
        ["get", "{peer}/small.txt", "-o", "-"],
    ],
)
def test_bad_destination_port_is_exit_3_one_line(command: list[str], port: str, words: str) -> None:
    for peer in (f"127.0.0.1:{port}", f"[::1]:{port}"):
        result = run_pigeon([w.format(peer=peer) for w in command])
        assert result.returncode == 3, result.stderr
        assert words in one_line_error(result)
        assert result.stdout == b""


@pytest.mark.parametrize("command", [["tcp", "connect"], ["ping"]])
@pytest.mark.parametrize("port", ["0", "70000", "x"])
def test_bad_port_word_is_exit_3(command: list[str], port: str) -> None:
    result = run_pigeon([*command, "::1", port])
    assert result.returncode == 3
    one_line_error(result)


def test_http_url_port_zero_is_exit_3() -> None:
    result = run_pigeon(["get", "http://127.0.0.1:0/x", "-o", "-"])
    assert result.returncode == 3
    assert "0 cannot be reached" in one_line_error(result)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["udp", "send", "127.0.0.1"], "names no port"),
        (["tcp", "connect", "::1"], "names no port"),
        (["tcp", "connect", "127.0.0.1:{p}", "80"], "one too many"),
        (["ping", "[::1]:{p}", "80"], "one too many"),
        (["tcp", "connect", "127.0.0.1:{p}/x"], "only for pigeon get"),
    ],
)
def test_unreadable_destination_is_exit_2_one_line(argv: list[str], words: str) -> None:
    port = free_port()
    result = run_pigeon([a.format(p=port) for a in argv])
    assert result.returncode == 2
    assert words in one_line_error(result)
