"""pigeon tcp against nc: connect to nc -l, accept nc clients; many clients at once; ping."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess

import pytest

from tests.helpers import (
    PIGEON,
    background,
    free_port,
    json_lines,
    pigeon_server,
    run_pigeon,
    wait_bound,
)

pytestmark = pytest.mark.interop


def test_pigeon_connect_streams_stdin_to_nc_and_nc_back(nc: str) -> None:
    port = free_port()
    # No -N here: openbsd nc -N stops reading the network once its own stdin ends.
    with background([nc, "-l", "127.0.0.1", str(port)], stdin=True) as listener:
        wait_bound(port, socket.SOCK_STREAM)
        listener.send_stdin(b"reply from nc\n", close=True)
        payload = bytes(range(256)) * 4096  # 1 MiB of every byte value: binary-safe both ways
        result = run_pigeon(["tcp", "connect", "127.0.0.1", str(port)], stdin=payload)
        assert listener.finish() == 0
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"reply from nc\n"
    assert listener.out == payload


def test_nc_client_to_pigeon_echo_server(nc: str) -> None:
    port = free_port()
    with pigeon_server(["tcp", "listen", "--port", str(port), "--echo", "--once"]) as server:
        reply = subprocess.run(
            [nc, "-N", "127.0.0.1", str(port)], input=b"echo\xffme", capture_output=True, timeout=10
        )
        assert server.finish() == 0
    assert reply.stdout == b"echo\xffme"
    assert b"connected" in server.err and b"disconnected: 7 bytes in, 7 bytes out" in server.err


def test_nc_client_gets_the_reply_text(nc: str) -> None:
    port = free_port()
    args = ["tcp", "listen", "--port", str(port), "--reply", "thank you !", "--json"]
    with pigeon_server(args) as server:
        reply = subprocess.run(
            [nc, "127.0.0.1", str(port)], input=b"hi", capture_output=True, timeout=10
        )
        server.wait_for(b'"disconnected"')  # said once the close is through
    assert reply.stdout == b"thank you !"
    kinds = [e["type"] for e in json_lines(server.out)]
    assert kinds == ["listening", "connected", "data", "disconnected"]


def test_listen_serves_many_clients_at_once() -> None:
    """200 clients connected at the same time, each answered on its own connection."""
    port = free_port()

    async def client(i: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.2)  # every client is connected before any finishes
        writer.write(f"client {i}".encode())
        await writer.drain()
        writer.write_eof()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        return data

    async def crowd() -> list[bytes]:
        return await asyncio.gather(*(client(i) for i in range(200)))

    with pigeon_server(["tcp", "listen", "--port", str(port), "--echo"]):
        replies = asyncio.run(crowd())
    assert replies == [f"client {i}".encode() for i in range(200)]


@pytest.mark.parametrize("form", ["HOST PORT", "[V6]:PORT"])
def test_connect_send_prints_reply_from_ipv6_server(form: str) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as server:
        server.bind(("::1", 0))
        server.listen(1)
        server.settimeout(10)
        port = server.getsockname()[1]
        peer = ["[::1]", str(port)] if form == "HOST PORT" else [f"[::1]:{port}"]
        args = ["tcp", "connect", *peer, "--send", "你好"]
        with background([*PIGEON, *args]) as client:
            conn, _ = server.accept()
            with conn:
                assert conn.recv(100) == "你好".encode()
                conn.sendall(b"ok")
            assert client.finish() == 0
    assert client.out == b"ok"


def test_ping_connected_and_refused(nc: str) -> None:
    port = free_port()
    with background([nc, "-l", "-k", "127.0.0.1", str(port)]):
        wait_bound(port, socket.SOCK_STREAM)
        ok = run_pigeon(["ping", f"127.0.0.1:{port}", "-c", "3", "-i", "0.05", "--json"])
    assert ok.returncode == 0, ok.stderr
    events = [json.loads(line) for line in ok.stdout.splitlines()]
    assert [e["outcome"] for e in events[:3]] == ["connected"] * 3
    summary = events[-1]
    assert summary["type"] == "summary" and summary["connected"] == 3
    assert 0 < summary["min_ms"] <= summary["avg_ms"] <= summary["max_ms"]

    closed = run_pigeon(["ping", f"127.0.0.1:{port}", "-c", "2", "-i", "0"])
    assert closed.returncode == 6
    out = closed.stdout.decode()
    assert "(host up, port closed)" in out and "2 probes, 0 connected, 2 refused" in out


def test_ping_ipv6_text_output() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as server:
        server.bind(("::1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        result = run_pigeon(["ping", f"[::1]:{port}", "-c", "2", "-i", "0"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith(f"connected to [::1]:{port}: seq=1 time=")
    assert lines[-1].startswith("rtt min/avg/max/mdev = ")


def test_connect_whose_server_replies_and_hangs_up_while_stdin_goes_on_is_exit_0() -> None:
    """The tutorial's server answers once and closes; piped input still coming after that
    ends the exchange quietly, as nc does (it was exit 1, 'connection lost')."""
    port = free_port()
    with pigeon_server(["tcp", "listen", "--port", str(port), "--reply", "bye"]):
        done = subprocess.run(
            [
                "bash",
                "-c",
                f"(echo hi; sleep 1; echo more; sleep 0.5; echo more) | "
                f"{' '.join(PIGEON)} tcp connect 127.0.0.1 {port}",
            ],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"bye" and done.stderr == b""
