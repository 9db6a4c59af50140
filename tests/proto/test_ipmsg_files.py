"""Attachment lists, file requests and folder record streams: round trips and hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.proto.chat import ipmsg_files as f


def test_file_list_round_trip_with_colons_and_chinese() -> None:
    entries = [
        f.FileEntry(0, "报告:最终版.pdf", 0x1234, 0x5F5E100, f.REGULAR),
        f.FileEntry(1, "照片", 0, 0x5F5E101, f.DIR),
        f.FileEntry(12, "a::b", 0, 1, f.REGULAR | f.RONLY),
    ]
    data = f.encode_file_list(entries, "utf-8")
    assert b"0:\xe6\x8a\xa5\xe5\x91\x8a::" in data  # ':' doubled on the wire
    assert data.count(b"\a") == 3
    assert b":1234:5f5e100:1:" in data  # hex fields
    assert f.decode_file_list(data, "utf-8") == entries
    assert f.decode_file_list(f.encode_file_list(entries, "gbk"), "gbk") == entries


def test_real_style_list_from_another_client() -> None:
    # as the official client writes it, with an extended attribute and a trailing NUL
    data = b"0:notes.txt:1f:65a0b1c2:1:14=65a0b1c2:\a1:docs:0:65a0b1c3:2:\a\0"
    [one, two] = f.decode_file_list(data, "utf-8")
    assert (one.file_id, one.name, one.size, one.mtime, one.is_dir) == (
        0,
        "notes.txt",
        31,
        0x65A0B1C2,
        False,
    )
    assert (two.name, two.is_dir) == ("docs", True)


@pytest.mark.parametrize(
    "entry",
    [
        b"0:..:1:1:1:",
        b"0:.:1:1:1:",
        b"0:a/b:1:1:1:",
        b"0:a\\b:1:1:1:",
        b"0:/etc/passwd:1:1:1:",
        b"0:C:::1:1:1:",  # 'C:' after unescaping: a drive letter
        b"0:\x1b[2J:1:1:1:",
        b"0::1:1:1:",  # empty name
        b"0:x:zz:1:1:",
        b"x:x:1:1:1:",
        b"0:x:1:1",
        b"0:x:-1:1:1:",
        # numbers int() took: 0x, '_', blanks, other scripts' digits, any length
        b"0:x:0x10:1:1:",
        b"0:x:1_0:1:1:",
        b"0:x: 10:1:1:",
        "0:x:１０:1:1:".encode(),  # full-width digits
        b"0:x:1:1:0x1:",
        b"0:x:" + b"1" * 5000 + b":1:1:",
        b"0:x:1:1:" + b"1" * 17 + b":",
        b"1_0:x:1:1:1:",
        b" 1:x:1:1:1:",
        "١:x:1:1:1:".encode(),  # an Arabic-Indic digit as the file id
    ],
)
def test_hostile_or_malformed_entries_are_refused(entry: bytes) -> None:
    with pytest.raises(f.FileListError):
        f.decode_file_list(entry + b"\a", "utf-8")


def test_too_many_entries() -> None:
    many = b"".join(b"%d:f%d:1:1:1:\a" % (i, i) for i in range(f.MAX_ENTRIES + 1))
    with pytest.raises(f.FileListError, match="more than"):
        f.decode_file_list(many, "utf-8")


def test_requests_are_hex_and_accept_decimal_ids_too() -> None:
    assert f.encode_request(0x6A, 11, 0x100) == b"6a:b:100"
    assert f.parse_request(b"6a:b:100") == f.FileRequest(0x6A, (11,), 0x100)
    assert f.parse_request(b"6a:10:0\0") == f.FileRequest(0x6A, (16, 10), 0)  # hex or decimal
    assert f.parse_request(b"6a:3") == f.FileRequest(0x6A, (3,), 0)  # GETDIRFILES
    for bad in (b"", b"6a", b"zz:1:0", b"6a::0", b"1:2:3:4:5:6"):
        with pytest.raises(f.FileListError):
            f.parse_request(bad)


@pytest.mark.parametrize(
    "bad",
    [b"0x6a:1", b"6_a:1", b" 6a:1", b"6a:0x1", b"6a:1: 10", b"6a:1:1_0", b"6a:1:" + b"f" * 17,
     "6a:１０".encode(), "6a:1:١".encode()],
)  # fmt: skip
def test_requests_refuse_numbers_int_would_take(bad: bytes) -> None:
    with pytest.raises(f.FileListError):
        f.parse_request(bad)


@pytest.mark.parametrize("mtime", ["0x10", "1_0", " 10", "１０", "f" * 5000, "-10", "zz"])
def test_an_unreadable_file_time_is_unknown_and_the_entry_kept(mtime: str) -> None:
    [entry] = f.decode_file_list(f"0:a.txt:5:{mtime}:1:\a".encode(), "utf-8")
    assert (entry.name, entry.size, entry.mtime) == ("a.txt", 5, 0)


def _tree_stream() -> bytes:
    enc = "utf-8"
    return b"".join(
        [
            f.encode_record("相册", 0, f.DIR, mtime=100, encoding=enc),
            f.encode_record("a.txt", 5, f.REGULAR, mtime=101, encoding=enc),
            b"hello",
            f.encode_record("empty", 0, f.REGULAR, mtime=102, encoding=enc),
            f.encode_record("sub:dir", 0, f.DIR, mtime=103, encoding=enc),
            f.encode_record("b.bin", 3, f.REGULAR, mtime=None, encoding=enc),
            b"\x00\x01\x02",
            f.retparent_record(enc),
            f.retparent_record(enc),
        ]
    )


def _collect(reader: f.FolderReader, chunks: list[bytes]) -> list[f.FolderEvent]:
    events: list[f.FolderEvent] = []
    for chunk in chunks:
        events += reader.feed(chunk)
    # merge file data for comparison
    merged: list[f.FolderEvent] = []
    for e in events:
        if isinstance(e, f.FileData) and merged and isinstance(merged[-1], f.FileData):
            merged[-1] = f.FileData(merged[-1].data + e.data)
        else:
            merged.append(e)
    return merged


EXPECTED = [
    f.EnterDir(("相册",), 100),
    f.FileStart(("相册", "a.txt"), 5, 101),
    f.FileData(b"hello"),
    f.FileEnd(("相册", "a.txt")),
    f.FileStart(("相册", "empty"), 0, 102),
    f.FileEnd(("相册", "empty")),
    f.EnterDir(("相册", "sub:dir"), 103),
    f.FileStart(("相册", "sub:dir", "b.bin"), 3, None),
    f.FileData(b"\x00\x01\x02"),
    f.FileEnd(("相册", "sub:dir", "b.bin")),
    f.LeaveDir(("相册", "sub:dir"), 103),
    f.LeaveDir(("相册",), 100),
    f.TreeDone(),
]


def test_folder_stream_round_trip_all_at_once_and_byte_by_byte() -> None:
    stream = _tree_stream()
    assert _collect(f.FolderReader(), [stream]) == EXPECTED
    reader = f.FolderReader()
    assert _collect(reader, [stream[i : i + 1] for i in range(len(stream))]) == EXPECTED
    assert reader.done


def test_header_size_counts_itself() -> None:
    record = f.encode_record("x", 0x10, f.REGULAR, mtime=None, encoding="utf-8")
    size_text, _, _ = record.partition(b":")
    assert int(size_text, 16) == len(record)


def _raw_header(body: str) -> bytes:
    """A folder record header around ``body`` as given (encode_record writes only good ones)."""
    data = body.encode()
    size = next(n for w in range(1, 9) if len(f"{(n := w + len(data)):x}") == w)
    return f"{size:x}".encode() + data


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (f.encode_record("..", 0, f.DIR, mtime=None, encoding="utf-8"), "refused"),
        (
            f.encode_record("top", 0, f.DIR, mtime=None, encoding="utf-8")
            + f.encode_record("../../etc", 0, f.DIR, mtime=None, encoding="utf-8"),
            "refused",
        ),
        (f.encode_record("/abs", 0, f.DIR, mtime=None, encoding="utf-8"), "refused"),
        (f.encode_record("a.txt", 1, f.REGULAR, mtime=None, encoding="utf-8"), "must start"),
        (f.retparent_record("utf-8"), "no folder open"),
        (b"fffff:x:0:2:", "out of bounds"),
        (b"zz:x:0:2:", "not a number"),
        (b"1" * 20, "not a number"),
        (b"0x1f:x:0:2:", "not a number"),
        (b" 1f:x:0:2:", "not a number"),
        (b"1_f:x:0:2:", "not a number"),
        ("１f:x:0:2:".encode(), "not a number"),
        (_raw_header(":x:0x0:2:"), "bad record header"),
        (_raw_header(":x:0:0x2:"), "bad record header"),
        (_raw_header(":x:1_0:2:"), "bad record header"),
        (_raw_header(":x: 0:2:"), "bad record header"),
        (_raw_header(":x:0:２:"), "bad record header"),
        (_raw_header(":x:" + "0" * 17 + ":2:"), "bad record header"),
        (b"3:x:0:2:", "bad record header"),
        (
            f.encode_record("top", 0, f.DIR, mtime=None, encoding="utf-8")
            + f.encode_record("link", 0, f.SYMLINK, mtime=None, encoding="utf-8"),
            "unsupported",
        ),
        (
            f.encode_record("top", 0, f.DIR, mtime=None, encoding="utf-8")
            + f.retparent_record("utf-8")
            + b"more",
            "after the folder",
        ),
    ],
)
def test_hostile_folder_streams_are_refused(stream: bytes, why: str) -> None:
    with pytest.raises(f.FolderRecordError, match=why):
        f.FolderReader().feed(stream)


def test_depth_is_bounded() -> None:
    deep = b"".join(
        f.encode_record(f"d{i}", 0, f.DIR, mtime=None, encoding="utf-8")
        for i in range(f.MAX_DEPTH + 1)
    )
    with pytest.raises(f.FolderRecordError, match="deeper"):
        f.FolderReader().feed(deep)


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_parsers_raise_only_their_own_errors(data: bytes) -> None:
    for parse in (
        lambda: f.decode_file_list(data, "utf-8"),
        lambda: f.parse_request(data),
        lambda: f.FolderReader().feed(data),
    ):
        with contextlib.suppress(f.FileListError, f.FolderRecordError):
            parse()
