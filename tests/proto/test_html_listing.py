"""proto.http.html_listing and local_names.listed_name: what a mirror takes from a listing."""

from __future__ import annotations

import pytest

from pigeon.proto.http.html_listing import Link, folder_links
from pigeon.proto.local_names import Listed, listed_name, safe_local_name

PYTHON_HTTP_SERVER = """<!DOCTYPE HTML><html><body><h1>Directory listing for /d/</h1><hr><ul>
<li><a href="quote%22s%20and%20%23hash%20%3Fq.txt">quote"s and #hash ?q.txt</a></li>
<li><a href="sub/">sub/</a></li>
<li><a href="%E7%A9%BA%20%E6%A0%BC.bin">空 格.bin</a></li>
<li><a href=".hidden">.hidden</a></li>
</ul><hr></body></html>"""

NGINX = """<html><head><title>Index of /d/</title></head><body><h1>Index of /d/</h1><hr><pre>
<a href="../">../</a>
<a href="sub/">sub/</a>                                    25-Nov-2026 10:00       -
<a href="a%26b.txt">a&amp;b.txt</a>                       25-Nov-2026 10:00      12
</pre><hr></body></html>"""

APACHE = """<html><body><h1>Index of /d</h1><table>
<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>
<tr><td><a href="/">Parent Directory</a></td></tr>
<tr><td><a href="file.txt">file.txt</a></td></tr>
<tr><td><a href="/d/abs.txt">abs.txt</a></td></tr>
<tr><td><a href="http://other.example/x.txt">elsewhere</a></td></tr>
<tr><td><a href="file.txt#frag">again</a></td></tr>
<tr><td><a href="sub/deeper/x.txt">two levels</a></td></tr>
</table></body></html>"""


def test_python_http_server_listing() -> None:
    assert folder_links(PYTHON_HTTP_SERVER, "/d/") == [
        Link('quote"s and #hash ?q.txt', False),
        Link("sub", True),
        Link("空 格.bin", False),
        Link(".hidden", False),
    ]


def test_nginx_listing_skips_the_parent() -> None:
    assert folder_links(NGINX, "/d/") == [Link("sub", True), Link("a&b.txt", False)]


def test_apache_listing_skips_sorting_parent_and_foreign_links() -> None:
    assert folder_links(APACHE, "/d/") == [Link("file.txt", False), Link("abs.txt", False)]


def test_a_link_leading_out_is_no_entry() -> None:
    html = '<a href="../etc/passwd">x</a><a href="%2e%2e/x">y</a><a href="a%2Fb">z</a>'
    # ../etc/passwd resolves outside; %2e%2e/x is two segments; a%2Fb decodes to a slash,
    # which the mirror's name check then refuses
    assert folder_links(html, "/d/") == [Link("a/b", False)]
    assert listed_name("a/b") is Listed.REFUSED


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ('quote"s and #hash ?q.txt', Listed.TAKE),
        ("空 格.bin", Listed.TAKE),
        ("back\\slash", Listed.TAKE),
        (".bash_profile", Listed.HIDDEN),
        (".ssh", Listed.HIDDEN),
        ("..", Listed.REFUSED),
        (".", Listed.REFUSED),
        ("", Listed.REFUSED),
        ("a/b", Listed.REFUSED),
        ("nul\x00", Listed.REFUSED),
        ("esc\x1b[2J", Listed.REFUSED),
        ("bidi\u202egnp.exe", Listed.REFUSED),
        ("x" * 256, Listed.REFUSED),
        (None, Listed.REFUSED),
        (7, Listed.REFUSED),
    ],
)
def test_listed_name(name: object, want: Listed) -> None:
    assert listed_name(name) is want


def test_hidden_names_are_taken_when_asked_for() -> None:
    assert listed_name(".ssh", hidden=True) is Listed.TAKE
    assert listed_name("..", hidden=True) is Listed.REFUSED


def test_the_name_cleaner_is_linear() -> None:
    import time

    start = time.process_time()
    cleaned = safe_local_name("é" * 250_000)
    assert time.process_time() - start < 2.0  # quadratic took 22.8 s
    assert len(cleaned.encode()) <= 255 and cleaned == "é" * 127


def test_links_spelled_another_way_are_the_same_folder() -> None:
    html = (
        '<a href="/a (1)/x.txt">x</a><a href="/a%20(1)/y.txt">y</a>'
        '<a href="/a%20%281%29/z/">z</a><a href="w.txt">w</a>'
    )
    assert folder_links(html, "/a%20%281%29/") == [
        Link("x.txt", False),
        Link("y.txt", False),
        Link("z", True),
        Link("w.txt", False),
    ]
