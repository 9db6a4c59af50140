"""pigeon serve over HTTP/1.1 with curl and wget: downloads, ranges, resume, caching, listings."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.interop.serve_fixtures import Served, sha256

pytestmark = pytest.mark.interop


def fetch(curl: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([curl, "-sS", *args], capture_output=True, timeout=60, check=False)


def status_of(curl: str, url: str, *args: str) -> int:
    result = fetch(curl, "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", *args, url)
    return int(result.stdout or b"0")


@pytest.mark.parametrize(
    "name", ["empty.bin", "one.bin", "small.txt", "mib.bin", "name with spaces 中文.txt"]
)
@pytest.mark.parametrize("fixture", ["served", "served_fallback"])
def test_curl_downloads_identical(
    curl: str, name: str, fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Byte-identical through sendfile and through the read/write fallback."""
    served: Served = request.getfixturevalue(fixture)
    out = tmp_path / "got"
    from urllib.parse import quote

    result = fetch(curl, "-f", "-o", str(out), f"{served.url}/{quote(name)}")
    assert result.returncode == 0, result.stderr
    assert sha256(out) == sha256(served.root / name)


@pytest.mark.slow
def test_two_gib_sparse_file_identical(curl: str, served: Served) -> None:
    sparse = served.root / "sparse.img"
    with sparse.open("wb") as f:
        f.seek((2 << 30) - 5)
        f.write(b"tail!")
    proc = subprocess.Popen([curl, "-sSf", f"{served.url}/sparse.img"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    h = hashlib.sha256()
    size = 0
    while chunk := proc.stdout.read(1 << 20):
        h.update(chunk)
        size += len(chunk)
    proc.stdout.close()
    assert proc.wait(timeout=300) == 0
    assert size == 2 << 30
    assert h.hexdigest() == sha256(sparse)


@pytest.mark.parametrize("fixture", ["served", "served_fallback"])
def test_ranges(curl: str, fixture: str, request: pytest.FixtureRequest) -> None:
    served: Served = request.getfixturevalue(fixture)
    data = (served.root / "mib.bin").read_bytes()
    url = f"{served.url}/mib.bin"
    for spec, want in [
        ("0-0", data[:1]),
        ("100-199", data[100:200]),
        ("1048000-", data[1048000:]),
        ("-10", data[-10:]),
        ("1048570-99999999", data[1048570:]),
    ]:
        got = fetch(curl, "-f", "-r", spec, url)
        assert got.returncode == 0 and got.stdout == want, spec
    head = fetch(curl, "-i", "-r", "5-9", url).stdout
    assert head.startswith(b"HTTP/1.1 206")
    assert b"Content-Range: bytes 5-9/1048576" in head


def test_unsatisfiable_range_is_416(curl: str, served: Served) -> None:
    head = fetch(curl, "-i", "-r", "2000000-", f"{served.url}/mib.bin").stdout
    assert head.startswith(b"HTTP/1.1 416")
    assert b"Content-Range: bytes */1048576" in head
    # A range of an empty file can never be satisfied.
    assert status_of(curl, f"{served.url}/empty.bin", "-r", "0-0") == 416


def test_head_has_headers_and_no_body(curl: str, served: Served) -> None:
    result = fetch(curl, "-I", f"{served.url}/small.txt")
    text = result.stdout.decode()
    assert text.startswith("HTTP/1.1 200")
    for field in (
        'ETag: "',
        "Last-Modified: ",
        "Content-Length: 13",
        "Accept-Ranges: bytes",
        "Content-Type: text/plain; charset=utf-8",
    ):
        assert field in text, field


def test_conditional_requests_304(curl: str, served: Served) -> None:
    url = f"{served.url}/small.txt"
    etag = re.search(r'ETag: (".*?")', fetch(curl, "-I", url).stdout.decode())
    assert etag is not None
    assert status_of(curl, url, "-H", f"If-None-Match: {etag.group(1)}") == 304
    assert status_of(curl, url, "-H", 'If-None-Match: "other"') == 200
    assert status_of(curl, url, "-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT") == 304
    assert status_of(curl, url, "-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT") == 200


def test_if_range_with_stale_etag_sends_whole_file(curl: str, served: Served) -> None:
    url = f"{served.url}/small.txt"
    stale = fetch(curl, "-r", "0-1", "-H", 'If-Range: "stale"', url)
    assert stale.stdout == b"hello pigeon\n"
    etag = re.search(r'ETag: (".*?")', fetch(curl, "-I", url).stdout.decode())
    assert etag is not None
    fresh = fetch(curl, "-r", "0-1", "-H", f"If-Range: {etag.group(1)}", url)
    assert fresh.stdout == b"he"


def test_curl_resume_after_cut(curl: str, served: Served, tmp_path: Path) -> None:
    source = (served.root / "mib.bin").read_bytes()
    out = tmp_path / "mib.bin"
    out.write_bytes(source[:300_000])  # what a cut-off earlier download left behind
    result = fetch(curl, "-f", "-C", "-", "-o", str(out), f"{served.url}/mib.bin")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == source


def test_wget_download_and_resume(wget: str, served: Served, tmp_path: Path) -> None:
    source = (served.root / "mib.bin").read_bytes()
    full = subprocess.run(
        [wget, "-q", "-O", str(tmp_path / "full"), f"{served.url}/mib.bin"], timeout=60, check=False
    )
    assert full.returncode == 0 and (tmp_path / "full").read_bytes() == source
    part = tmp_path / "mib.bin"
    part.write_bytes(source[:123_457])
    resumed = subprocess.run(
        [wget, "-q", "-c", f"{served.url}/mib.bin"], cwd=tmp_path, timeout=60, check=False
    )
    assert resumed.returncode == 0 and part.read_bytes() == source


def test_repr_digest_matches_and_is_cached(curl: str, served: Served) -> None:
    url = f"{served.url}/mib.bin"
    want = base64.b64encode(hashlib.sha256((served.root / "mib.bin").read_bytes()).digest())
    for _ in range(2):
        head = fetch(curl, "-I", "-H", "Want-Repr-Digest: sha-256=1", url).stdout
        assert b"Repr-Digest: sha-256=:" + want + b":" in head
    assert b"Repr-Digest" not in fetch(curl, "-I", url).stdout


def test_html_listing(curl: str, served: Served) -> None:
    page = fetch(curl, "-f", f"{served.url}/").stdout.decode()
    assert '<a href="name%20with%20spaces%20%E4%B8%AD%E6%96%87.txt">' in page
    assert "name with spaces 中文.txt" in page
    assert '<a href="sub/">sub/</a>' in page
    assert ".hidden" not in page and "link-out" not in page and "fifo" not in page
    assert "dir-out" not in page
    names = re.findall(r'<a href="[^"]*">([^<]*)</a>', page)
    assert names[0] == "sub/"  # folders first, then files sorted
    files = names[1:]
    assert files == sorted(files, key=str.casefold)
    nested = fetch(curl, "-f", f"{served.url}/sub/%E6%B7%B1/").stdout.decode()
    assert '<a href="../">../</a>' in nested and "nested.txt" in nested


def test_directory_without_slash_redirects(curl: str, served: Served) -> None:
    head = fetch(curl, "-I", f"{served.url}/sub").stdout.decode()
    assert head.startswith("HTTP/1.1 301") and "Location: /sub/" in head


def test_json_listing_and_digests(curl: str, served: Served) -> None:
    by_accept = json.loads(fetch(curl, "-H", "Accept: application/json", served.url + "/").stdout)
    by_query = json.loads(fetch(curl, served.url + "/?format=json").stdout)
    assert by_accept == by_query
    entries = {e["name"]: e for e in by_query["entries"]}
    assert entries["mib.bin"]["type"] == "file" and entries["mib.bin"]["size"] == 1 << 20
    assert entries["sub"]["type"] == "dir"
    assert "sha256" not in entries["mib.bin"]
    with_digest = json.loads(fetch(curl, served.url + "/?format=json&digest=sha-256").stdout)
    digests = {e["name"]: e.get("sha256") for e in with_digest["entries"]}
    assert digests["mib.bin"] == sha256(served.root / "mib.bin")


def test_keep_alive_and_pipelining(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(
            b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /one.bin HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /one.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.endswith(b"\r\n\r\n\x7f")
    assert b"hello pigeon\n" in data


def test_methods_other_than_get_head_are_405(curl: str, served: Served) -> None:
    assert status_of(curl, f"{served.url}/small.txt", "-X", "DELETE") == 405
    assert (served.root / "small.txt").exists()


def test_access_log_line(curl: str, served: Served) -> None:
    fetch(curl, "-f", f"{served.url}/small.txt")
    served.proc.wait_for(b'"GET /small.txt" 200 13', stream="err")
