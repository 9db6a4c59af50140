"""Endpoint parsing: host, host:port, [v6]:port, bare IPv6, ports at and past the limits."""

from __future__ import annotations

import pytest

from pigeon.errors import InvalidAddress, InvalidPort, UsageError
from pigeon.proto.address import (
    Endpoint,
    format_endpoint,
    parse_endpoint,
    parse_host,
    parse_port,
    unmap_ipv4,
)
from pigeon.proto.http.source import parse_source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.168.1.103:8080", Endpoint("192.168.1.103", 8080)),
        ("localhost", Endpoint("localhost", 7890)),
        ("[::1]:7788", Endpoint("::1", 7788)),
        ("[::1]", Endpoint("::1", 7890)),
        ("::1", Endpoint("::1", 7890)),
        ("fe80::1%eth0", Endpoint("fe80::1%eth0", 7890)),
        ("host.lan:0", Endpoint("host.lan", 0)),
        (" example:65535 ", Endpoint("example", 65535)),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text, default_port=7890) == expected


@pytest.mark.parametrize("text", ["[::1", "::1]", "[::1]x", "[1.2.3.4]:80", ":80", "a b:1", ""])
def test_parse_endpoint_rejects_malformed(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_endpoint(text, default_port=1)


@pytest.mark.parametrize("text", ["host:65536", "host:-1", "host:http", "[::1]:99999", "h:"])
def test_parse_endpoint_rejects_bad_ports(text: str) -> None:
    with pytest.raises(InvalidPort):
        parse_endpoint(text, default_port=1)


def test_endpoint_without_port_needs_a_default() -> None:
    with pytest.raises(InvalidAddress, match="names no port"):
        parse_endpoint("host", default_port=None)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("65535", 65535), (" 80 ", 80), (7, 7)])
def test_parse_port_accepts_range(text: str | int, value: int) -> None:
    assert parse_port(text) == value


@pytest.mark.parametrize("text", ["65536", "-1", "1e3", "٣", "", "0x10", 70000])
def test_parse_port_rejects(text: str | int) -> None:
    with pytest.raises(InvalidPort) as info:
        parse_port(text)
    assert isinstance(info.value, UsageError)
    assert "65535" in str(info.value)


def test_parse_host_strips_brackets_and_refuses_junk() -> None:
    assert parse_host("[::1]") == "::1"
    assert parse_host("example.org") == "example.org"
    for bad in ("[example.org]", "", "a/b", "user@host"):
        with pytest.raises(InvalidAddress):
            parse_host(bad)


def test_format_endpoint_brackets_ipv6_and_unmaps_ipv4() -> None:
    assert format_endpoint("::1", 80) == "[::1]:80"
    assert format_endpoint("10.0.0.1", 80) == "10.0.0.1:80"
    assert format_endpoint("::ffff:127.0.0.1", 5) == "127.0.0.1:5"
    assert unmap_ipv4("::ffff:1.2.3.4") == "1.2.3.4"
    assert unmap_ipv4("::ffff:1") == "::ffff:1"
    assert str(Endpoint("::1", 1)) == "[::1]:1"


@pytest.mark.parametrize(
    ("words", "kwargs", "host", "port", "path", "rest"),
    [
        (["h", "80", "a"], {}, "h", 80, "", ["a"]),
        (["h:80", "a"], {}, "h", 80, "", ["a"]),
        (["::1", "80"], {}, "::1", 80, "", []),
        (["[::1]", "80"], {}, "::1", 80, "", []),
        (["[::1]:80", "80"], {}, "::1", 80, "", ["80"]),
        (["h"], {"default_port": 7890}, "h", 7890, "", []),
        (["h", "x.txt"], {"default_port": 7890, "port_word": False}, "h", 7890, "", ["x.txt"]),
        (["h:8000/"], {"path": True}, "h", 8000, "/", []),
        (["[::1]:8/a/b?c"], {"path": True}, "::1", 8, "/a/b?c", []),
        (["h/a"], {"path": True, "default_port": 1}, "h", 1, "/a", []),
        (["[::1]/a"], {"path": True, "default_port": 1}, "::1", 1, "/a", []),
    ],
)
def test_parse_destination_forms(
    words: list[str], kwargs: dict[str, object], host: str, port: int, path: str, rest: list[str]
) -> None:
    from pigeon.proto.address import Destination, parse_destination

    assert parse_destination(words, **kwargs) == (Destination(host, port, path), rest)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["h", "0"], InvalidPort),
        (["h:0"], InvalidPort),
        (["[::1]:70000"], InvalidPort),
        (["h", "x"], InvalidPort),
        (["h"], InvalidAddress),
        ([], InvalidAddress),
        (["h:80/a"], InvalidAddress),  # a path only where allowed
        (["::1/a"], InvalidAddress),
        (["[::1]x"], InvalidAddress),
    ],
)
def test_parse_destination_refuses(words: list[str], error: type[Exception]) -> None:
    from pigeon.proto.address import parse_destination

    with pytest.raises(error):
        parse_destination(words)


def test_parse_destination_more_false_refuses_extra_words() -> None:
    from pigeon.proto.address import parse_destination

    with pytest.raises(InvalidAddress, match="one too many"):
        parse_destination(["h:1", "2"], more=False)


@pytest.mark.parametrize("text", ["1.2.3.4:80:", "host:x:y", "a:b"])
def test_a_host_with_a_colon_that_is_no_ipv6_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidAddress, match=r"\[V6\]:PORT"):
        parse_host(text)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://[fe80::1%25eth0]:8000/x", "fe80::1%eth0"),  # RFC 6874: % written %25
        ("http://[::1]:8000/x", "::1"),
        ("http://127.0.0.1/x", "127.0.0.1"),
    ],
)
def test_a_url_gives_its_host_with_an_ipv6_zone_decoded(url: str, host: str) -> None:
    assert parse_source(url).host == host


@pytest.mark.parametrize(
    ("text", "path", "target"),
    [
        ("http://h/50%.txt", None, "/50%25.txt"),  # a % that starts no escape is one
        ("h:80/50%.txt", None, "/50%25.txt"),
        ("h:80/a%2", None, "/a%252"),
        ("http://h/a%20b%2F", None, "/a%20b%2F"),  # escapes stay as typed
        ("http://h/x?q=100%", None, "/x?q=100%25"),
        ("h:80", "50%.txt", "/50%25.txt"),  # a PATH word is a name: every % is one
        ("h:80", "a%20b", "/a%2520b"),
    ],
)
def test_a_typed_percent_becomes_a_valid_target(text: str, path: str | None, target: str) -> None:
    assert parse_source(text, path).target == target
