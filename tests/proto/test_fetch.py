"""proto.http.fetch: what a download asks for and what each answer means, as tables."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pigeon.proto.http.fetch import (
    Answer,
    PartState,
    Verdict,
    judge,
    parse_content_range,
    parse_repr_digest,
    restart_note,
    resume_headers,
    usable_length,
)
from pigeon.proto.http.fields import parse_count

TAG = '"v1"'
DATE = "Wed, 25 Nov 2026 10:00:00 GMT"
WITH_TAG = PartState("http://h/f", TAG, 100, DATE)
DATE_ONLY = PartState("http://h/f", None, 100, DATE)
NO_VALIDATOR = PartState("http://h/f", None, 100, None)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("0", 0),
        (" 42 ", 42),
        ("9" * 19, int("9" * 19)),
        ("9" * 20, None),  # beyond any file; never Python's unbounded int
        ("1" * 5000, None),  # over Python's digit limit: no ValueError
        ("²", None),  # a digit to str.isdigit, not to HTTP
        ("-1", None),
        ("", None),
        (None, None),
        ("1e3", None),
    ],
)
def test_parse_count(text: str | None, want: int | None) -> None:
    assert parse_count(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("bytes 10-99/100", (10, 99, 100)),
        ("bytes 0-0/*", (0, 0, None)),
        ("BYTES 5-9/10", (5, 9, 10)),
        ("bytes 10-9/100", None),
        ("bytes 10-100/100", None),
        ("bytes 1" + "0" * 5000 + "-2/3", None),
        ("bytes ²-3/4", None),
        ("items 1-2/3", None),
        ("bytes 1-2", None),
        (None, None),
    ],
)
def test_parse_content_range(text: str | None, want: tuple[int, int, int | None] | None) -> None:
    assert parse_content_range(text) == want


def test_parse_repr_digest() -> None:
    digest = hashlib.sha256(b"x").digest()
    value = f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert parse_repr_digest(value) == digest
    assert parse_repr_digest(f"sha-512=:AAAA:, {value}") == digest
    assert parse_repr_digest("sha-256=:bm90IDMyIGJ5dGVz:") is None  # not 32 bytes
    assert parse_repr_digest("sha-256=:!!:") is None
    assert parse_repr_digest("sha-256=" + "A" * 50_000) is None  # oversized: not parsed
    assert parse_repr_digest(None) is None


def test_resume_headers_prefer_the_etag_then_last_modified() -> None:
    assert resume_headers(WITH_TAG, 10) == [("Range", "bytes=10-"), ("If-Range", TAG)]
    assert resume_headers(DATE_ONLY, 10) == [("Range", "bytes=10-"), ("If-Range", DATE)]
    assert resume_headers(NO_VALIDATOR, 10) == []  # no safe way to resume
    assert resume_headers(WITH_TAG, 0) == [] and resume_headers(None, 10) == []


@pytest.mark.parametrize(
    ("have", "size", "want"),
    [(0, 100, 0), (50, 100, 50), (100, 100, 99), (101, 100, 0), (7, None, 7), (0, 0, 0)],
)
def test_usable_length(have: int, size: int | None, want: int) -> None:
    assert usable_length(have, size) == want


@pytest.mark.parametrize(
    ("status", "headers", "have", "state", "want"),
    [
        (200, {"content-length": "100"}, 0, None, Answer(Verdict.WHOLE, 0, 100)),
        (200, {"transfer-encoding": "chunked"}, 0, None, Answer(Verdict.WHOLE, 0, None)),
        (
            200,
            {"transfer-encoding": "chunked", "repr-length": "100"},
            0,
            None,
            Answer(Verdict.WHOLE, 0, 100),
        ),
        (
            206,
            {"content-range": "bytes 10-99/100", "content-length": "90"},
            10,
            WITH_TAG,
            Answer(Verdict.CONTINUE, 10, 100),
        ),
        (206, {"content-range": "bytes 0-99/100"}, 10, WITH_TAG, Answer(Verdict.BAD_RANGE)),
        (206, {"content-range": "bytes 10-50/100"}, 10, WITH_TAG, Answer(Verdict.BAD_RANGE)),
        (
            206,
            {"content-range": "bytes 10-99/100", "content-length": "5"},
            10,
            WITH_TAG,
            Answer(Verdict.BAD_RANGE),
        ),
        (206, {"content-range": "bytes 0-99/100"}, 0, None, Answer(Verdict.BAD_RANGE)),
        (
            200,
            {"etag": TAG, "content-length": "100"},
            10,
            WITH_TAG,
            Answer(Verdict.RESTART_NO_RANGE, 0, 100),
        ),
        (
            200,
            {"last-modified": DATE, "content-length": "100"},
            10,
            DATE_ONLY,
            Answer(Verdict.RESTART_NO_RANGE, 0, 100),
        ),
        (
            200,
            {"etag": '"v2"', "content-length": "100"},
            10,
            WITH_TAG,
            Answer(Verdict.RESTART_CHANGED, 0, 100),
        ),
        (416, {}, 10, WITH_TAG, Answer(Verdict.RESTART_UNSATISFIABLE)),
        (416, {}, 0, None, Answer(Verdict.STATUS_ERROR)),
        (404, {}, 0, None, Answer(Verdict.STATUS_ERROR)),
        (301, {"location": "/x/"}, 0, None, Answer(Verdict.REDIRECT)),
        (301, {}, 0, None, Answer(Verdict.STATUS_ERROR)),
    ],
)
def test_judge(
    status: int, headers: dict[str, str], have: int, state: PartState | None, want: Answer
) -> None:
    assert judge(status, headers, have, state) == want


def test_restart_notes_say_why() -> None:
    assert restart_note(Verdict.RESTART_NO_RANGE) == (
        "the server cannot resume (no Range support); starting over"
    )
    assert "changed" in restart_note(Verdict.RESTART_CHANGED)
    assert "cannot be resumed" in restart_note(Verdict.RESTART_UNSATISFIABLE)


def test_a_weak_etag_is_never_an_if_range_validator() -> None:
    weak = PartState("http://h/f", 'W/"v1"', 100, DATE)
    assert resume_headers(weak, 10) == [("Range", "bytes=10-"), ("If-Range", DATE)]
    assert resume_headers(PartState("http://h/f", 'W/"v1"', 100, None), 10) == []


def test_a_range_of_another_size_is_not_continued() -> None:
    headers = {"content-range": "bytes 10-199/200", "content-length": "190"}
    assert judge(206, headers, 10, WITH_TAG) == Answer(Verdict.RESTART_UNSATISFIABLE)
