"""Header values and listed names from a hostile peer: bounded numbers on both sides
(``parse_range``, the server's; ``parse_count`` is in test_fetch), redirects checked before
use, and the reason a listed name is refused."""

from __future__ import annotations

import pytest

from pigeon.errors import ProtocolError
from pigeon.proto.http.fetch import MAX_LOCATION, redirect_target
from pigeon.proto.http.ranges import ByteRange, Unsatisfiable, parse_range
from pigeon.proto.http.source import Source
from pigeon.proto.local_names import Listed, listed_name, refusal

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={HUGE}-",
        f"bytes=0-{HUGE}",
        f"bytes=-{HUGE}",
        f"bytes={HUGE}-{HUGE}",
        "bytes=" + "1" * 20 + "-",  # 20 digits: beyond any file
        "bytes=²-",
        "bytes=0-²",
        "bytes=-²",
        "bytes=١-٢",
        "bytes=+1-2",
        "bytes=1_000-",
    ],
)
def test_a_range_no_bounded_parser_reads_is_ignored(header: str) -> None:
    assert parse_range(header, 10) is None  # RFC 9110: ignored, the whole file is served


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=" + "9" * 19 + "-", Unsatisfiable),
        ("bytes=0-" + "9" * 19, ByteRange(0, 9, 10)),
        ("bytes=-" + "9" * 19, ByteRange(0, 9, 10)),
        (" bytes = 2 - 3 ", ByteRange(2, 3, 10)),
    ],
)
def test_nineteen_digits_are_still_a_range(header: str, expected: object) -> None:
    if expected is Unsatisfiable:
        with pytest.raises(Unsatisfiable):
            parse_range(header, 10)
    else:
        assert parse_range(header, 10) == expected


HERE = Source("127.0.0.1", 7890, "/dir/file")


@pytest.mark.parametrize(
    ("location", "target"),
    [
        ("/other", Source("127.0.0.1", 7890, "/other")),
        ("next", Source("127.0.0.1", 7890, "/dir/next")),
        ("http://127.0.0.1:8000/x", Source("127.0.0.1", 8000, "/x")),
        ("//127.0.0.1:81/y", Source("127.0.0.1", 81, "/y")),
        ("/x#fragment", Source("127.0.0.1", 7890, "/x")),
    ],
)
def test_redirects_on_the_same_host_are_followed(location: str, target: Source) -> None:
    assert redirect_target(HERE, location) == target


@pytest.mark.parametrize(
    ("location", "words"),
    [
        ("", "empty location"),
        ("  ", "empty location"),
        ("/a b", "malformed location '/a b'"),
        ("/\xc3\xa9", "malformed location '/\\xc3\\xa9'"),
        ("/a\x1b[2J", "malformed location '/a\\x1b[2J'"),
        ("/a\x00", "malformed location"),
        ("/" + "a" * MAX_LOCATION, "a location of 4,097 characters"),
        ("ftp://127.0.0.1/x", "ftp:// is not supported"),
        ("//other/x", "another host (other)"),
        ("http://10.0.0.1/x", "another host (10.0.0.1)"),
        ("http://[::1/x", "malformed location"),
        ("http://127.0.0.1:99999/", "names no port from 1 to 65535"),
    ],
)
def test_bad_redirects_are_one_clear_line(location: str, words: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        redirect_target(HERE, location)
    message = str(caught.value)
    assert message.startswith("http://127.0.0.1:7890/dir/file: the server redirected ")
    assert words in message, message
    assert "\n" not in message and "\x1b" not in message and len(message) < 300


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ok.txt", None),
        (".bashrc", None),  # hidden, not refused: listed_name says HIDDEN
        ("..", "empty or a dot-segment"),
        ("a/b", "a path, not a name"),
        ("é" * 200, "400 bytes long (a file name holds at most 255)"),
        ("a\x1bb", "control or bidirectional-override characters"),
        ("txt.\u202eexe", "control or bidirectional-override characters"),
        (7, "not a string"),
    ],
)
def test_a_refused_name_says_why(name: object, why: str | None) -> None:
    assert refusal(name) == why
    assert (listed_name(name) is Listed.REFUSED) == (why is not None)
