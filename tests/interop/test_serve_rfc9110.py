"""pigeon serve's answers as RFC 9110 asks, checked with curl: a ``Date`` on every answer
(remembered ones included, refreshed each second), a 304 without ``Content-Length``, and a
request head that arrives in pieces is still HTTP."""

from __future__ import annotations

import email.utils
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import PIGEON, free_port, pigeon_server
from tests.interop.serve_fixtures import Served, nginx_serving

pytestmark = pytest.mark.interop


def heads(curl: str, *args: str) -> list[dict[str, str]]:
    """The heads of the answers curl got (``-D -``), as lower-cased header dicts, each with
    its status under ``:status``."""
    result = subprocess.run(
        [curl, "-sS", "-o", "/dev/null", "-D", "-", *args],
        capture_output=True,
        timeout=30,
        check=True,
    )
    out: list[dict[str, str]] = []
    for block in result.stdout.decode("latin-1").split("\r\n\r\n"):
        lines = [line for line in block.split("\r\n") if line]
        if not lines:
            continue
        fields = {":status": lines[0].split()[1]}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        out.append(fields)
    return out


def assert_date_now(fields: dict[str, str]) -> float:
    """The answer's Date is an IMF-fixdate within two seconds of now; returns it."""
    date = fields["date"]
    assert date.endswith(" GMT") and len(date) == 29, date
    when = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(when - time.time()) < 2, date
    return when


def test_every_answer_carries_a_date(curl: str, served: Served) -> None:
    url = served.url
    for args, status in (
        ([f"{url}/small.txt"], "200"),
        (["-I", f"{url}/small.txt"], "200"),
        (["-r", "0-1", f"{url}/small.txt"], "206"),
        (["-r", "99-", f"{url}/small.txt"], "416"),
        ([f"{url}/missing"], "404"),
        ([f"{url}/.hidden"], "404"),  # hidden: not said to exist
        ([f"{url}/sub"], "301"),
        ([f"{url}/"], "200"),
        (["-I", f"{url}/sub/"], "200"),
        (["-X", "POST", f"{url}/small.txt"], "405"),
    ):
        [fields] = heads(curl, *args)
        assert fields[":status"] == status, (args, fields)
        assert_date_now(fields)


def test_a_304_has_no_content_length(curl: str, served: Served) -> None:
    url = f"{served.url}/small.txt"
    [first] = heads(curl, url)
    [again] = heads(curl, "-H", f"If-None-Match: {first['etag']}", url)
    assert again[":status"] == "304"
    assert "content-length" not in again and "transfer-encoding" not in again
    assert again["etag"] == first["etag"]
    assert_date_now(again)


def test_remembered_answers_carry_the_current_date(curl: str, tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_bytes(b"hello pigeon\n")
    time.sleep(1.1)  # settled (its ctime too): its answer is remembered
    port = free_port()
    argv = ["serve", str(tmp_path), "--port", str(port), "--log-format", "json"]
    with pigeon_server(argv) as proc:
        url = f"http://127.0.0.1:{port}/small.txt"
        for _ in range(3):
            began = int(time.time())
            # one connection, the same head twice: the second answer of each later round is
            # a remembered one (the first of a connection always goes through h11)
            first, remembered = heads(curl, url, "-o", "/dev/null", url)
            assert_date_now(first)
            assert assert_date_now(remembered) >= began  # not the date it was made with
            time.sleep(1.1)
        # the first round's answers are both made (remembered once asked again)
        assert proc.err.count(b'"remembered": true') == 2, proc.err


def test_a_head_sent_in_pieces_is_http(served: Served) -> None:
    """``GE``, then the rest 0.5 s later (longer than the tutorial protocol's pause)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"GE")
        time.sleep(0.5)
        sock.sendall(b"T /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello pigeon\n")


def test_a_bare_name_is_still_the_tutorials_protocol(served: Served) -> None:
    """The form that worked: a file name alone, answered with the raw bytes."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(b"small.txt")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer == b"hello pigeon\n"


def test_preconditions_and_odd_paths_are_answered_as_nginx_answers_them(
    curl: str, served: Served, tmp_path: Path
) -> None:
    """If-Match / If-Unmodified-Since (412 when the version is another), a malformed
    percent-escape (400) and a file asked for as a folder (404): pigeon serve and nginx,
    each over the same folder, give curl the same status."""
    url = f"{served.url}/small.txt"
    [first] = heads(curl, url)
    etag = first["etag"]
    cases = [
        (["-H", 'If-Match: "another"'], "/small.txt", "412"),
        (["-H", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT"], "/small.txt", "412"),
        (["-H", "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT"], "/small.txt", "200"),
        (["-H", "If-Match: *"], "/small.txt", "200"),
        (["--path-as-is"], "/%", "400"),
        (["--path-as-is"], "/sma%zzll.txt", "400"),
        ([], "/small.txt/", "404"),
    ]
    with nginx_serving(served.root, tmp_path) as port:
        for args, path, status in cases:
            [ours] = heads(curl, *args, f"{served.url}{path}")
            [theirs] = heads(curl, *args, f"http://127.0.0.1:{port}{path}")
            assert (ours[":status"], theirs[":status"]) == (status, status), (args, path)
    # a folder page has no ETag: no tag names it (nginx lists no folder without autoindex)
    assert heads(curl, "-H", 'If-Match: "another"', f"{served.url}/sub/")[0][":status"] == "412"
    assert heads(curl, "-H", "If-Match: *", f"{served.url}/sub/")[0][":status"] == "200"
    # the version pigeon serve has: its own ETag matches, and a 412 says which it is
    [same] = heads(curl, "-H", f"If-Match: {etag}", url)
    assert same[":status"] == "200"
    [failed] = heads(curl, "-H", 'If-Match: "another"', url)
    assert failed["etag"] == etag and failed["content-length"] == "24"


def test_pigeon_get_of_a_name_with_a_lone_percent(tmp_path: Path) -> None:
    """A % that starts no escape, typed in a URL or HOST/PATH, is sent as %25 (the server
    answers a bare one 400): the file arrives, verified."""
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "50%.txt").write_bytes(b"half\n")
    port = free_port()
    with pigeon_server(["serve", str(tmp_path / "share"), "--port", str(port)]):
        for n, source in enumerate(
            (f"http://127.0.0.1:{port}/50%.txt", f"127.0.0.1:{port}/50%.txt")
        ):
            out = tmp_path / f"got{n}"
            done = subprocess.run(
                [*PIGEON, "get", source, "-o", str(out)],
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert out.read_bytes() == b"half\n"
            assert b"sha256 verified" in done.stderr
