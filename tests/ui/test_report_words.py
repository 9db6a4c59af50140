"""ui.report and ui.progress: sizes in binary units, plurals right, JSON fields that say what
they hold, one JSON object per line, --quiet alike with and without --json, no "from another
machine" line for a server only this machine can reach."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from pigeon.events import (
    ClientDisconnected,
    DatagramReceived,
    DatagramSent,
    DownloadResult,
    Event,
    Listening,
    Notice,
    PingProbe,
)
from pigeon.proto.rtt import summarize
from pigeon.ui.netinfo import ping_summary_lines
from pigeon.ui.progress import (
    download_interrupted,
    mirror_done,
    mirror_interrupted,
    result_text,
    transfer_text,
)
from pigeon.ui.report import Reporter, to_json, to_line

HINT = "pigeon udp send 192.168.1.7 7788 hello"


def _listening(*reach: str) -> Listening:
    return Listening("udp", reach[0], 7788, reach, HINT)


@pytest.mark.parametrize(
    ("size", "line"),
    [
        (1, "sent 1 byte to 127.0.0.1:9"),
        (5, "sent 5 bytes to 127.0.0.1:9"),
        (60000, "sent 58.6 KiB to 127.0.0.1:9"),
    ],
)
def test_sent_line_words_its_size(size: int, line: str) -> None:
    assert to_line(DatagramSent("127.0.0.1:9", size)) == (line, False)
    assert to_json(DatagramSent("127.0.0.1:9", size))["bytes"] == size  # exact in JSON


def test_disconnect_line_names_both_units() -> None:
    event = ClientDisconnected(0.0, "127.0.0.1:5", 1, 3 << 20)
    line, _ = to_line(event)
    assert line.endswith("disconnected: 1 byte in, 3.0 MiB out")
    assert (to_json(event)["bytes_in"], to_json(event)["bytes_out"]) == (1, 3 << 20)


def test_binary_datagram_json_is_base64_named_so() -> None:
    doc = to_json(DatagramReceived(0.0, "127.0.0.1:5", b"\xde\xad\xbe\xef", "auto"))
    assert doc["base64"] == base64.b64encode(b"\xde\xad\xbe\xef").decode()
    assert doc["bytes"] == 4 and "encoding" not in doc and "text" not in doc
    line, is_data = to_line(DatagramReceived(0.0, "127.0.0.1:5", b"\xde\xad\xbe\xef", "auto"))
    assert is_data and line.endswith("127.0.0.1:5 [hex]  de ad be ef")


def test_text_datagram_json_names_its_charset() -> None:
    doc = to_json(DatagramReceived(0.0, "127.0.0.1:5", "你好".encode("gbk"), "auto"))
    assert (doc["text"], doc["encoding"], doc["bytes"]) == ("你好", "gb18030", 4)
    assert "base64" not in doc


@pytest.mark.parametrize(
    "reach", [("127.0.0.1:7788",), ("[::1]:7788",), ("127.0.0.1:7788", "[::1]:7788")]
)
def test_a_loopback_server_has_no_line_for_other_machines(reach: tuple[str, ...]) -> None:
    line, _ = to_line(_listening(*reach))
    assert line == f"listening on udp {reach[0]}; reach it at {', '.join(reach)}"
    assert to_json(_listening(*reach))["hint"] is None


@pytest.mark.parametrize("reach", [("192.168.1.7:7788",), ("[fe80::1]:7788", "10.0.0.2:7788")])
def test_a_lan_server_still_says_what_to_paste_elsewhere(reach: tuple[str, ...]) -> None:
    line, _ = to_line(_listening(*reach))
    assert line.endswith(f"\n  from another machine: {HINT}")
    assert to_json(_listening(*reach))["hint"] == HINT


EVENTS: list[Event] = [
    _listening("127.0.0.1:7788"),
    Notice("a notice"),
    DatagramSent("127.0.0.1:9", 2),
    DatagramReceived(0.0, "127.0.0.1:5", b"hi\n", "auto"),
    PingProbe(1, "127.0.0.1:9", "refused", 0.1),
]


def _run(*, json_output: bool, quiet: bool) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(json_output=json_output, quiet=quiet, out=out, err=err)
    for event in EVENTS:
        reporter(event)
    return out.getvalue(), err.getvalue()


def test_json_quiet_prints_only_the_data() -> None:
    out, err = _run(json_output=True, quiet=True)
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["datagram", "probe"]
    assert err == ""


def test_json_without_quiet_prints_every_event_one_per_line() -> None:
    out, _ = _run(json_output=True, quiet=False)
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types == ["listening", "notice", "sent", "datagram", "probe"]


def test_quiet_lines_keep_the_data_too() -> None:
    out, err = _run(json_output=False, quiet=True)
    assert len(out.splitlines()) == 2 and err == ""
    out, err = _run(json_output=False, quiet=False)
    assert len(out.splitlines()) == 2 and "a notice" in err and "sent 2 bytes" in err


@pytest.mark.parametrize(("sent", "words"), [(1, "1 probe,"), (2, "2 probes,")])
def test_ping_summary_counts_probes_right(sent: int, words: str) -> None:
    lines = ping_summary_lines("127.0.0.1:9", summarize(sent, []), sent)
    assert lines[1].startswith(words)


@pytest.mark.parametrize(
    ("done", "total", "speed", "shown"),
    [
        (1536, 1 << 20, 2048.0, "1.5 KiB / 1.0 MiB  2.0 KiB/s"),
        (1, None, None, "1 byte"),
        (0, 5 << 30, 0.0, "0 bytes / 5.0 GiB"),
    ],
)
def test_progress_rows_use_the_shared_units(
    done: int, total: int | None, speed: float | None, shown: str
) -> None:
    assert transfer_text(done, total, speed) == shown


def test_an_interrupted_mirror_says_what_it_kept_and_what_was_checked() -> None:
    tail = "; the same command fetches the rest"
    assert mirror_interrupted(458, 458, 0, "tree") == (
        "interrupted: 458 files kept in tree, all sha256-verified" + tail
    )
    # an HTML listing offers no digest: those files are kept, never called verified
    assert mirror_interrupted(12, 9, 3, "m") == (
        "interrupted: 12 files kept in m, 9 of them sha256-verified (the server offered no "
        "digest for the rest); 3 already there" + tail
    )
    assert mirror_interrupted(1, 0, 0, "m") == (
        "interrupted: 1 file kept in m, none sha256-verified (the server offered no digests)" + tail
    )
    assert mirror_interrupted(0, 0, 0, "m") == "interrupted: 0 files kept in m" + tail


def test_a_finished_mirror_says_what_it_fetched_and_what_was_checked() -> None:
    assert mirror_done(2004, 2004, 0, "tree") == (
        "mirrored into tree: 2,004 files fetched, all sha256-verified"
    )
    assert mirror_done(0, 0, 2004, "tree") == (
        "mirrored into tree: 0 files fetched; 2,004 already here and identical"
    )
    assert mirror_done(3, 0, 1, "m") == (
        "mirrored into m: 3 files fetched, none sha256-verified (the server offered no "
        "digests); 1 already here and identical"
    )
    assert mirror_done(3, 2, 0, "m") == (
        "mirrored into m: 3 files fetched, 2 of them sha256-verified (the server offered no "
        "digest for the rest)"
    )


def test_a_result_line_never_contradicts_itself() -> None:
    fresh = DownloadResult(Path("a.txt"), 776, "00" * 32, 0, False)
    assert result_text("a.txt", fresh) == "a.txt: 776 bytes, not verified: no digest offered"
    here = DownloadResult(Path("a.txt"), 776, "00" * 32, 0, False, already_here=True)
    assert result_text("a.txt", here) == (
        "a.txt: 776 bytes, already here and identical (kept; the server offered no digest)"
    )
    checked = DownloadResult(Path("a.txt"), 6, "00" * 32, 0, True, already_here=True)
    assert result_text("a.txt", checked) == (
        "a.txt: 6 bytes, already here and identical (kept; sha256 verified)"
    )


def test_an_interrupted_download_says_what_it_kept_and_whether_it_continues() -> None:
    assert download_interrupted("big.iso.part", 1 << 30, None) == (
        "interrupted: big.iso.part kept (1.0 GiB); the same command continues from there "
        "if the server can (same file, byte ranges)"
    )
    assert download_interrupted("x.part", 2048, "--no-resume") == (
        "interrupted: x.part kept (2.0 KiB); the same command starts over (--no-resume)"
    )
