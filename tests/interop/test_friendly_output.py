"""One vocabulary across commands, with real pigeon processes on loopback: binary units and
right plurals for people, exact bytes and honest field names in --json (one object per line),
--json -q printing only data, no "from another machine" line on a loopback bind, binary
datagrams as hex, -o - on a terminal without a progress display, refusals failing at once."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import (
    PIGEON,
    background,
    free_port,
    json_lines,
    one_line_error,
    pigeon_server,
    run_pigeon,
    wait_bound,
)
from tests.interop.serve_fixtures import Served
from tests.pty_helpers import on_pty

pytestmark = pytest.mark.interop

DEADBEEF = b"\xde\xad\xbe\xef"


def _send(port: int, payload: bytes, host: str = "127.0.0.1") -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as peer:
        peer.sendto(payload, (host, port))


# ----- udp recv ------------------------------------------------------------------------------


def test_binary_datagram_is_hex_not_chinese() -> None:
    """deadbeef used to show as '[gb18030] 蕲撅'; GBK text still shows as text."""
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "2"]) as server:
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "--hex", "deadbeef", "-q"])
        assert result.returncode == 0, result.stderr
        server.wait_for(b"de ad be ef", stream="out")
        _send(port, "你好".encode("gbk"))
        assert server.finish() == 0
    first, second = server.out.decode().splitlines()
    assert first.endswith(
        "127.0.0.1:" + first.split("127.0.0.1:")[1].split()[0] + " [hex]  de ad be ef"
    )
    assert "gb18030" not in first and "蕲" not in first
    assert second.endswith("[gb18030]  你好")


def test_datagram_json_fields_say_what_they_hold() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "2", "--json"]) as server:
        _send(port, DEADBEEF)
        server.wait_for(b'"base64"', stream="out")
        _send(port, b"hello\n")
        assert server.finish() == 0
    binary, text = [e for e in json_lines(server.out) if e["type"] == "datagram"]
    assert binary["base64"] == base64.b64encode(DEADBEEF).decode() and binary["bytes"] == 4
    assert "encoding" not in binary and "text" not in binary  # was "encoding": "hex"
    assert (text["text"], text["encoding"], text["bytes"]) == ("hello\n", "utf-8", 6)
    assert "base64" not in text


def test_json_quiet_prints_only_datagrams() -> None:
    port = free_port(socket.SOCK_DGRAM)
    argv = [*PIGEON, "udp", "recv", "--port", str(port), "-c", "1", "--json", "-q"]
    with background(argv) as server:
        wait_bound(port, socket.SOCK_DGRAM)
        _send(port, b"only me")
        assert server.finish() == 0
    lines = server.out.decode().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["text"] == "only me"  # no "listening"
    assert server.err == b""


def test_json_without_quiet_still_announces_listening() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1", "--json"]) as server:
        _send(port, b"x")
        assert server.finish() == 0
    assert [e["type"] for e in json_lines(server.out)] == ["listening", "datagram"]


@pytest.mark.parametrize("bind", ["127.0.0.1", "::1"])
def test_a_loopback_bind_prints_no_line_for_other_machines(bind: str) -> None:
    port = free_port(socket.SOCK_DGRAM, host=bind)
    argv = ["udp", "recv", "--bind", bind, "--port", str(port), "-c", "1"]
    with pigeon_server(argv) as server:
        _send(port, b"x", host=bind)
        assert server.finish() == 0
    err = server.err.decode()
    assert "listening on udp" in err and "another machine" not in err
    assert len(err.splitlines()) == 1, err
    with pigeon_server([*argv, "--json"]) as server:
        _send(port, b"x", host=bind)
        assert server.finish() == 0
    assert json_lines(server.out)[0]["hint"] is None


def test_a_wildcard_bind_tells_other_machines_when_it_has_a_lan_address() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1", "--json"]) as server:
        _send(port, b"x")
        assert server.finish() == 0
    listening = json_lines(server.out)[0]
    reach = listening["reach"]
    assert isinstance(reach, list)
    lan = [r for r in reach if not str(r).startswith(("127.", "[::1]"))]
    # a machine with only loopback has no one to tell; one with a LAN address does
    assert (listening["hint"] is not None) == bool(lan), listening
    if lan:
        assert str(listening["hint"]).startswith("pigeon udp send ")


# ----- ip, ping ------------------------------------------------------------------------------


def test_ip_json_is_one_object_on_one_line() -> None:
    result = run_pigeon(["ip", "--json"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1, result.stdout  # was indented over many lines
    assert "interfaces" in json.loads(lines[0])


@pytest.mark.parametrize(("count", "words"), [("1", "1 probe, "), ("2", "2 probes, ")])
def test_ping_counts_its_probes_in_words(count: str, words: str) -> None:
    port = free_port()  # nothing listens: refused, at once
    result = run_pigeon(["ping", f"127.0.0.1:{port}", "-c", count, "-i", "0.05"])
    out = result.stdout.decode()
    assert f"{words}0 connected, {count} refused" in out, out


# ----- get -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words", "size"),
    [("one.bin", "1 byte", 1), ("small.txt", "13 bytes", 13), ("mib.bin", "1.0 MiB", 1 << 20)],
)
def test_get_result_line_uses_units_and_json_exact_bytes(
    served: Served, tmp_path: Path, name: str, words: str, size: int
) -> None:
    source = f"127.0.0.1:{served.port}"
    result = run_pigeon(["get", source, name, "-o", f"{tmp_path}/"])
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().endswith(f"{name}: {words}, sha256 verified\n")
    again = run_pigeon(["get", source, name, "-o", f"{tmp_path}/json/", "--json"])
    assert json_lines(again.stdout)[-1]["bytes"] == size


def test_get_json_quiet_prints_only_the_result(served: Served, tmp_path: Path) -> None:
    result = run_pigeon(
        ["get", f"127.0.0.1:{served.port}", "mib.bin", "-o", f"{tmp_path}/", "--json", "-q"]
    )
    assert result.returncode == 0, result.stderr
    assert [e["type"] for e in json_lines(result.stdout)] == ["result"]  # no progress events
    shown = run_pigeon(
        ["get", f"127.0.0.1:{served.port}", "mib.bin", "-o", f"{tmp_path}/x/", "--json"]
    )
    assert [e["type"] for e in json_lines(shown.stdout)][-2:] == ["progress", "result"]


def test_a_refused_connection_fails_at_once() -> None:
    """It used to retry 4 times for 7.6 s; curl and wget fail at once."""
    port = free_port()
    started = time.monotonic()
    result = run_pigeon(["get", f"127.0.0.1:{port}", "file.txt"])
    took = time.monotonic() - started
    assert result.returncode == 6
    assert "connection refused" in one_line_error(result)  # one line: no "retrying" notices
    assert took < 3.0, took  # the interpreter's start-up included; 4 retries took 7.6 s


def test_a_refusal_after_a_lost_connection_is_still_retried(tmp_path: Path) -> None:
    """A server that cut the transfer and is not back yet (restarting) refuses: that is
    retried like the cut itself; only a first refusal fails at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def cut_once() -> None:
        conn, _ = listener.accept()
        listener.close()  # from now on: refused
        with conn:
            conn.recv(65536)
            head = b'HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\nETag: "v1"\r\n\r\n'
            conn.sendall(head + b"x" * (1 << 20))  # half, then the connection is lost

    server = threading.Thread(target=cut_once, daemon=True)
    server.start()
    result = run_pigeon(
        ["get", f"127.0.0.1:{port}", "big.bin", "--retries", "2", "-o", f"{tmp_path}/"]
    )
    server.join(5)
    err = result.stderr.decode()
    assert result.returncode == 6, err
    assert "connection lost" in err and "retrying in 0.5s (1/2)" in err, err
    assert "connection refused" in err and "retrying in 1s (2/2)" in err, err


def _text_tree(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    root.mkdir()
    (root / "lines.txt").write_bytes(b"pigeon says hello\n" * 120_000)  # 2.1 MiB of text
    return root


def test_stdout_on_a_terminal_turns_the_progress_display_off(tmp_path: Path) -> None:
    port = free_port()
    with pigeon_server(["serve", str(_text_tree(tmp_path)), "--port", str(port), "-q"]):
        run = on_pty(["get", f"127.0.0.1:{port}", "lines.txt", "-o", "-"], cwd=tmp_path)
    assert run.returncode == 0, run.terminal[-500:]
    assert run.terminal.count(b"pigeon says hello") == 120_000
    assert b"\xe2\x94\x81" not in run.terminal  # rich's bar (U+2501) never drawn
    assert b"KiB" not in run.terminal and b"MiB" not in run.terminal  # no sizes, no speed


def test_stdout_piped_keeps_the_progress_display_on_the_terminal(tmp_path: Path) -> None:
    port = free_port()
    with pigeon_server(["serve", str(_text_tree(tmp_path)), "--port", str(port), "-q"]):
        run = on_pty(
            ["get", f"127.0.0.1:{port}", "lines.txt", "-o", "-"],
            streams=frozenset({"stdin", "stderr"}),
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.terminal[-500:]
    assert run.stdout == b"pigeon says hello\n" * 120_000
    shown = run.terminal.decode(errors="replace")
    assert "\u2501" in shown and "2.1 MiB / 2.1 MiB" in shown  # the bar, in binary units
    assert "MB" not in shown and "stdout: 2.1 MiB, sha256 verified" in shown
