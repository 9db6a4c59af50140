"""pigeon udp against nc -u and socat, both directions, IPv4 and IPv6."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.helpers import (
    background,
    free_port,
    json_lines,
    pigeon_server,
    run_pigeon,
    wait_bound,
)

pytestmark = pytest.mark.interop


def test_nc_sends_to_pigeon_recv(nc: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "--count", "2", "--json"]) as server:
        for payload in (b"hello\n", "你好\n".encode("gbk")):
            subprocess.run([nc, "-u", "-w1", "127.0.0.1", str(port)], input=payload, check=True)
        assert server.finish() == 0
    events = [e for e in json_lines(server.out) if e["type"] == "datagram"]
    assert [(e["text"], e["encoding"]) for e in events] == [
        ("hello\n", "utf-8"),
        ("你好\n", "gb18030"),
    ]


def test_pigeon_send_to_nc(nc: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    # openbsd nc -u -l answers only the first sender, so both lines come from one pigeon.
    with background([nc, "-u", "-l", "-W", "2", "127.0.0.1", str(port)]) as listener:
        wait_bound(port, socket.SOCK_DGRAM)
        result = run_pigeon(
            ["udp", "send", "127.0.0.1", str(port), "-q"], stdin=b"line one\nline two\n"
        )
        assert result.returncode == 0
        assert listener.finish() == 0
    assert listener.out == b"line oneline two"


def test_socat_sends_to_pigeon_recv_over_ipv6(socat: str) -> None:
    port = free_port(socket.SOCK_DGRAM, host="::1")
    with pigeon_server(["udp", "recv", "--bind", "::1", "--port", str(port), "-c", "1"]) as srv:
        subprocess.run(
            [socat, "-u", "STDIN", f"UDP6-SENDTO:[::1]:{port}"], input=b"over v6", check=True
        )
        assert srv.finish() == 0
    line = srv.out.decode().strip()
    assert line.endswith("over v6") and "[::1]:" in line


def test_pigeon_send_to_socat_and_wait_for_its_reply(socat: str) -> None:
    """socat as an echo peer: pigeon's --wait prints the reply with the sender's address."""
    port = free_port(socket.SOCK_DGRAM)
    with background(
        [socat, "-T", "5", f"UDP4-RECVFROM:{port},bind=127.0.0.1", "SYSTEM:tr a-z A-Z"]
    ):
        wait_bound(port, socket.SOCK_DGRAM)
        result = run_pigeon(
            ["udp", "send", "127.0.0.1", str(port), "shout", "--wait", "2", "--json"]
        )
    assert result.returncode == 0, result.stderr
    replies = [e for e in json_lines(result.stdout) if e["type"] == "datagram"]
    assert replies[0]["text"] == "SHOUT"
    assert replies[0]["from"] == f"127.0.0.1:{port}"


def test_pigeon_echo_to_socat_client(socat: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "--echo", "-c", "1"]):
        reply = subprocess.run(
            [socat, "-T", "3", "-", f"UDP4:127.0.0.1:{port}"],
            input=b"echo me",
            capture_output=True,
            check=True,
            timeout=10,
        )
    assert reply.stdout == b"echo me"


def test_pigeon_sends_to_ipv6_peer_with_brackets() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sink:
        sink.bind(("::1", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "[::1]", str(port), "six", "-q"])
        assert result.returncode == 0
        assert sink.recvfrom(100)[0] == b"six"


def test_large_datagram_is_not_truncated() -> None:
    """The tutorial's recvfrom(1024) cuts a 5000-byte datagram; pigeon keeps all of it."""
    port = free_port(socket.SOCK_DGRAM)
    payload = "长" * 20000  # 60,000 bytes of UTF-8, close to the IPv4 limit
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1", "--json"]) as server:
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), payload, "-q"])
        assert result.returncode == 0
        assert server.finish() == 0
    event = json_lines(server.out)[-1]
    assert event["bytes"] == 60000 and event["text"] == payload


def test_hex_payload_arrives_as_bytes_and_binary_is_shown_as_hex() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1"]) as server:
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "--hex", "ff 00 1b 80"])
        assert result.returncode == 0
        assert server.finish() == 0
    assert server.out.decode().rstrip().endswith("[hex]  ff 00 1b 80")


def test_control_sequences_from_a_peer_are_escaped() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1"]) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"\x1b[2J\x1b]0;owned\x07hi", ("127.0.0.1", port))
        assert server.finish() == 0
    assert b"\x1b" not in server.out and b"\x07" not in server.out
    assert server.out.decode().rstrip().endswith("\\x1b[2J\\x1b]0;owned\\x07hi")


def test_broadcast_flag_allows_a_broadcast_socket_on_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "b", "--broadcast", "-q"])
        assert result.returncode == 0
        assert sink.recvfrom(10)[0] == b"b"


def test_stdin_lines_become_datagrams_in_the_chosen_encoding() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]
        result = run_pigeon(
            ["udp", "send", "127.0.0.1", str(port), "--encoding", "gbk", "-q"],
            stdin="一\r\n二\n\n三".encode(),
        )
        assert result.returncode == 0
        got = [sink.recvfrom(100)[0] for _ in range(4)]
    assert got == ["一".encode("gbk"), "二".encode("gbk"), b"", "三".encode("gbk")]


@pytest.mark.parametrize("extra", [[], ["--encoding", "gbk"]])
def test_stdin_lines_not_in_the_terminals_charset_go_as_they_are(extra: list[str]) -> None:
    """GBK bytes piped in (printf '\xc4\xe3\xba\xc3') are sent unchanged (they were
    refused: 'standard input is not valid utf-8', exit 2, nothing sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]
        result = run_pigeon(
            ["udp", "send", "127.0.0.1", str(port), "-q", *extra],
            stdin="你好\n".encode("gbk") + b"ok\n\xff\xfe\n",
        )
        assert result.returncode == 0, result.stderr
        got = [sink.recvfrom(100)[0] for _ in range(3)]
    assert got == ["你好".encode("gbk"), b"ok", b"\xff\xfe"]


def test_dual_stack_recv_takes_ipv4_and_ipv6() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "2", "--json"]) as server:
        for host in ("127.0.0.1", "::1"):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as peer:
                peer.sendto(host.encode(), (host, port))
        assert server.finish() == 0
    froms = sorted(str(e["from"]).rsplit(":", 1)[0] for e in json_lines(server.out)[1:])
    assert froms == ["127.0.0.1", "[::1]"]


def test_host_names_are_resolved() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "localhost", str(port), "by name", "-q"])
        assert result.returncode == 0, result.stderr
        assert sink.recvfrom(100)[0] == b"by name"
