"""Interactive ``pigeon get`` (no arguments, on a terminal) accepts every form it asks for:
a URL (with or without the file), HOST:PORT, [V6]:PORT, or a HOST and then its port.

Each run types its answers ahead on a real pseudo-terminal and checks which questions were
asked: an answer read by the wrong question (a file name taken for a port) fails the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.serve_fixtures import Served
from tests.pty_helpers import on_pty

pytestmark = pytest.mark.interop

ADDRESS, PORT, NAME = "server address: ", "server port [7890]: ", "file name: "


def _answers(served: Served, form: str) -> tuple[list[str], list[str]]:
    """The lines typed for ``form`` and the questions that must be asked, in order."""
    port = str(served.port)
    return {
        "url": ([f"http://127.0.0.1:{port}/small.txt"], [ADDRESS]),
        "url-folder": ([f"http://127.0.0.1:{port}/", "small.txt"], [ADDRESS, NAME]),
        "url-no-path": ([f"http://127.0.0.1:{port}", "small.txt"], [ADDRESS, NAME]),
        "host:port": ([f"127.0.0.1:{port}", "small.txt"], [ADDRESS, NAME]),
        "[v6]:port": ([f"[::1]:{port}", "small.txt"], [ADDRESS, NAME]),
        "host then port": (["127.0.0.1", port, "small.txt"], [ADDRESS, PORT, NAME]),
        "localhost then port": (["localhost", port, "small.txt"], [ADDRESS, PORT, NAME]),
        "v6 then port": (["::1", port, "small.txt"], [ADDRESS, PORT, NAME]),
        "[v6] then port": (["[::1]", port, "small.txt"], [ADDRESS, PORT, NAME]),
    }[form]


@pytest.mark.parametrize(
    "form",
    [
        "host:port",  # asked for the port next, then refused '[127.0.0.1:PORT]'
        "[v6]:port",
        "url",
        "url-folder",
        "url-no-path",
        "host then port",  # the tutorial's way, which always worked
        "localhost then port",
        "v6 then port",
        "[v6] then port",
    ],
)
def test_each_form_it_asks_for_is_accepted(served: Served, tmp_path: Path, form: str) -> None:
    lines, questions = _answers(served, form)
    run = on_pty(
        ["get"],
        streams=frozenset({"stdin"}),
        typed="".join(f"{line}\n" for line in lines).encode(),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode() == "".join(questions)
    assert (tmp_path / "small.txt").read_bytes() == b"hello pigeon\n"
    assert run.stderr.decode().endswith("small.txt: 13 bytes, sha256 verified\n")


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("127.0.0.1:1:2\n", "is not a host name or address (IPv6 with a port: [V6]:PORT)"),
        ("127.0.0.1:http\n", "is not a number"),
        ("[::1\n", "unbalanced brackets"),
        ("ftp://127.0.0.1/x\n", "ftp:// is not supported"),
        ("127.0.0.1\n99999\n", "out of range"),
        ("\n", "the host is empty"),
    ],
)
def test_a_wrong_answer_is_one_line(tmp_path: Path, typed: str, words: str) -> None:
    run = on_pty(["get"], streams=frozenset({"stdin"}), typed=typed.encode(), cwd=tmp_path)
    assert run.returncode in (2, 3), run.stderr
    err = run.stderr.decode()
    assert len(err.splitlines()) == 1 and err.startswith("pigeon: ") and words in err, err
    assert list(tmp_path.iterdir()) == []
