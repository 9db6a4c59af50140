"""Item 10 of the foundation issue: every user error is one line, no traceback, its own code.

Each test runs pigeon as a real process, feeds the bad input, and checks the message, the
exit code, and that nothing was sent or left bound.
"""

from __future__ import annotations

import os
import socket

import pytest

from tests.helpers import (
    free_port,
    one_line_error,
    pigeon_server,
    require_root,
    require_tool,
    run_pigeon,
    udp_receiver,
)


def _nothing_arrives(sock: socket.socket) -> None:
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recvfrom(65535)


def test_port_already_in_use_names_the_port() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as holder:
        holder.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        holder.bind(("::", port))
        result = run_pigeon(["udp", "recv", "--port", str(port)])
    assert result.returncode == 8
    assert one_line_error(result) == (
        f"pigeon: udp port {port} is already in use by another program (choose another with --port)"
    )


def test_tcp_port_in_use_by_another_pigeon() -> None:
    port = free_port()
    with pigeon_server(["tcp", "listen", "--port", str(port)]):
        result = run_pigeon(["tcp", "listen", "--port", str(port)])
    assert result.returncode == 8
    assert f"tcp port {port} is already in use" in one_line_error(result)


def test_privileged_port_permission_denied_says_why() -> None:
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Root may bind anything; drop CAP_NET_BIND_SERVICE so pigeon meets what users meet.
        prefix = [require_tool("setpriv"), "--bounding-set=-net_bind_service", "--"]
    result = run_pigeon(["udp", "recv", "--port", "80"], prefix=prefix)
    assert result.returncode == 9
    assert one_line_error(result) == (
        "pigeon: permission denied for udp port 80: ports below 1024 need root or "
        "CAP_NET_BIND_SERVICE (use --port 1024 or higher)"
    )


def test_unknown_host() -> None:
    # An empty network namespace: the lookup cannot leave this machine, and fails.
    require_root()
    unshare = require_tool("unshare")
    result = run_pigeon(
        ["udp", "send", "no-such-host.invalid", "7788", "hi"], prefix=[unshare, "--net"]
    )
    assert result.returncode == 5
    assert one_line_error(result).startswith("pigeon: unknown host 'no-such-host.invalid'")


def test_unknown_host_tcp_connect_on_loopback_resolver_failure() -> None:
    # A name with a character no resolver accepts fails before any lookup is sent.
    result = run_pigeon(["tcp", "connect", "bad_host..", "80"])
    assert result.returncode == 5
    assert one_line_error(result).startswith("pigeon: unknown host 'bad_host..'")


def test_connection_refused_tcp() -> None:
    port = free_port()
    result = run_pigeon(["tcp", "connect", "127.0.0.1", str(port), "--send", "x"])
    assert result.returncode == 6
    assert one_line_error(result) == (
        f"pigeon: tcp 127.0.0.1:{port}: connection refused (nothing is listening there)"
    )


def test_connection_refused_udp_reported_from_icmp() -> None:
    port = free_port(socket.SOCK_DGRAM)
    result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "x", "--wait", "2"])
    assert result.returncode == 6
    assert "connection refused" in one_line_error(result, skip="sent ")


def test_network_unreachable() -> None:
    # An empty network namespace has no routes: connect fails at once, nothing is sent.
    require_root()
    unshare = require_tool("unshare")
    result = run_pigeon(["tcp", "connect", "203.0.113.9", "80"], prefix=[unshare, "--net"])
    assert result.returncode == 7
    assert one_line_error(result) == (
        "pigeon: tcp 203.0.113.9:80: network unreachable (no route to that host)"
    )
    udp = run_pigeon(["udp", "send", "203.0.113.9", "80", "x"], prefix=[unshare, "--net"])
    assert udp.returncode == 7


@pytest.mark.parametrize("port", ["65536", "-1", "http", "99999"])
def test_port_out_of_range(port: str) -> None:
    result = run_pigeon(["udp", "send", "127.0.0.1", port, "x"])
    assert result.returncode == 3
    assert "1 to 65535" in one_line_error(result)


def test_listen_port_out_of_range() -> None:
    result = run_pigeon(["tcp", "listen", "--port", "70000"])
    assert result.returncode == 3
    assert one_line_error(result) == "pigeon: port 70000 is out of range: ports go from 0 to 65535"


def test_datagram_too_long_sends_nothing() -> None:
    with udp_receiver() as sink:
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "ok", "x" * 65508])
        assert result.returncode == 10
        assert one_line_error(result) == (
            "pigeon: datagram of 65508 bytes is too long: one UDP datagram over IPv4 "
            "carries at most 65507 bytes"
        )
        _nothing_arrives(sink)  # not even the valid first argument: all checked up front


def test_datagram_too_long_from_stdin_stops_before_it() -> None:
    with udp_receiver() as sink:
        port = sink.getsockname()[1]
        lines = b"first\n" + b"y" * 70000 + b"\nthird\n"
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port)], stdin=lines)
        assert result.returncode == 10
        assert "70000 bytes is too long" in one_line_error(result, skip="sent ")
        assert sink.recvfrom(65535)[0] == b"first"
        _nothing_arrives(sink)


def test_undecodable_hex_sends_nothing() -> None:
    with udp_receiver() as sink:
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "--hex", "01 02", "0g"])
        assert result.returncode == 4
        assert one_line_error(result) == (
            "pigeon: --hex: '0g' is not hexadecimal bytes "
            "(write pairs of digits such as 'de ad 01')"
        )
        _nothing_arrives(sink)


def test_wait_without_reply_times_out() -> None:
    with udp_receiver() as sink:
        port = sink.getsockname()[1]
        result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "hi", "--wait", "0.3", "-q"])
        assert sink.recvfrom(100)[0] == b"hi"
    assert result.returncode == 11
    assert one_line_error(result) == f"pigeon: no reply from 127.0.0.1:{port} within 0.3s"


def test_a_url_whose_brackets_do_not_close_is_one_line() -> None:
    result = run_pigeon(["get", "http://[::1:27890/x"])
    assert result.returncode == 2
    assert "is not a URL pigeon can read" in one_line_error(result)


@pytest.mark.parametrize("value", ["0", "inf"])
def test_get_timeout_must_be_more_than_nothing(value: str) -> None:
    result = run_pigeon(["get", "127.0.0.1:9/x", "--timeout", value])
    assert result.returncode == 2
    assert b"more than zero seconds" in result.stderr
