"""One function per sans-I/O parser: bytes in, and only pigeon's typed errors may escape.

Shared by the long hypothesis runs (tests/reliability/test_fuzz_parsers.py) and the atheris
harness (fuzz/run.py). A target swallows the errors its parser is documented to raise; any
other exception is a bug the fuzzer reports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pigeon.errors import PigeonError
from pigeon.proto import local_names
from pigeon.proto.chat import commands as chat_commands
from pigeon.proto.chat import ipmsg, ipmsg_files, messenger, outgoing
from pigeon.proto.classify import classify
from pigeon.proto.http import chunked, fetch, html_listing, ranges
from pigeon.proto.http import fields as http_fields
from pigeon.proto.http import messages as http_messages
from pigeon.proto.http.source import Source, parse_source
from pigeon.proto.remote_names import legacy_name_segments, url_path_segments


def _classify(data: bytes) -> None:
    for cut in range(0, len(data) + 1, max(1, len(data) // 4)):
        classify(data[:cut])


def _legacy(data: bytes) -> None:
    with contextlib.suppress(PigeonError):
        legacy_name_segments(data)


def _url(data: bytes) -> None:
    with contextlib.suppress(PigeonError):
        url_path_segments(data)


def _range(data: bytes) -> None:
    text = data.decode("latin-1")
    for size in (0, 1, 100, 1 << 40):
        with contextlib.suppress(ranges.Unsatisfiable):
            ranges.parse_range(text, size)


def _ipmsg(data: bytes) -> None:
    packet = ipmsg.parse_packet(data)
    if packet is not None:
        ipmsg.parse_entry(packet.extra)
        ipmsg.message_body(packet.extra)
        ipmsg.ack_number(packet.extra)
        round_trip = ipmsg.parse_packet(ipmsg.encode_packet(packet))
        assert round_trip is not None and round_trip.command == packet.command


def _messenger(data: bytes) -> None:
    ident = outgoing.Identity(user="u", host="h", nick="n")
    node = messenger.Messenger(ident, first_packet_no=1)
    node.own_port = 2425
    for i, piece in enumerate((data, data, data[::-1])):
        node.receive(piece, ("10.0.0.1", 2425), float(i))
    node.tick(100.0)


def _file_list(data: bytes) -> None:
    for encoding in ("utf-8", "gb18030"):
        with contextlib.suppress(ipmsg_files.FileListError):
            ipmsg_files.decode_file_list(data, encoding)


def _file_request(data: bytes) -> None:
    with contextlib.suppress(ipmsg_files.FileListError):
        ipmsg_files.parse_request(data)


def _folder(data: bytes) -> None:
    reader = ipmsg_files.FolderReader()
    with contextlib.suppress(ipmsg_files.FolderRecordError):
        for i in range(0, len(data), 7):
            reader.feed(data[i : i + 7])


def _chat_line(data: bytes) -> None:
    chat_commands.parse_line(data.decode("utf-8", "replace"))


def _source(data: bytes) -> None:
    with contextlib.suppress(PigeonError):
        parse_source(data.decode("utf-8", "replace"))


def _chunked(data: bytes) -> None:
    reader = chunked.ChunkedReader()
    with contextlib.suppress(PigeonError):
        for cut in range(0, len(data) + 1, max(1, len(data) // 3)):
            reader.feed(data[cut : cut + max(1, len(data) // 3)])
            step = reader.next()
            while isinstance(step, chunked.Payload):
                reader.take(step.size)
                reader.payload_done()
                step = reader.next()
            if isinstance(step, chunked.End):
                return


def _answer(data: bytes) -> None:
    """An answer's fields as a server could send them, judged for a fresh and a resumed
    download (lengths, ranges, digests of any length, oversized values included)."""
    text = data.decode("latin-1")
    names = ["content-length", "content-range", "repr-digest", "etag"]
    fields = dict(zip(names, text.split("\n"), strict=False))
    state = fetch.PartState("http://h/f", fields.get("etag"), 10, None)
    for status in (200, 206, 416, 301):
        for have in (0, 5):
            fetch.judge(status, fields, have, state)
    fetch.parse_repr_digest(text)
    fetch.parse_content_range(text)
    http_fields.parse_count(text)


def _answer_head(data: bytes) -> None:
    """An answer head as a server could send it: raw, and behind a valid status line so the
    bytes reach the field parser; then its framing and keep-alive decision."""
    for head in (data, b"HTTP/1.1 200 OK\r\n" + data, b"HTTP/1.1 200 OK\r\n" + data + b"\r\n\r\n"):
        with contextlib.suppress(PigeonError):
            answer = http_messages.parse_answer_head(head)
            if answer is not None:
                assert 0 < answer.size <= len(head)
                assert all(name == name.lower() for name in answer.headers)
                http_messages.framing("GET", answer)
                http_messages.keeps_open(answer)


HERE = Source("127.0.0.1", 7890, "/dir/file")


def header_value(text: str) -> None:
    """One header value, as a peer may send it (any length: tests feed tens of KB), through
    every parser of a header value, client and server side. A parser may refuse it (None,
    ``Unsatisfiable``, ``ProtocolError`` for a redirect), never raise anything else."""
    http_fields.parse_count(text)
    fetch.parse_content_range(text)
    fetch.parse_repr_digest(text)
    http_fields.parse_http_date(text)
    http_fields.etag_matches(text, '"a-b"')
    http_fields.wants_json(text, text)
    for size in (0, 1, 100, 1 << 40):
        with contextlib.suppress(ranges.Unsatisfiable):
            got = ranges.parse_range(text, size)
            assert got is None or 0 <= got.start <= got.end < size
        with contextlib.suppress(ranges.Unsatisfiable):
            ranges.parse_range("bytes=" + text, size)
    for name in ("content-length", "content-range", "repr-length", "location", "etag"):
        for status in (200, 206, 302, 416):
            fetch.judge(status, {name: text}, 5, fetch.PartState("http://h/f", text, 10, text))
    with contextlib.suppress(PigeonError):
        fetch.redirect_target(HERE, text)
    local_names.safe_local_name(text)
    local_names.listed_name(text)


def _header_value(data: bytes) -> None:
    header_value(data.decode("latin-1"))


def _html_listing(data: bytes) -> None:
    html_listing.folder_links(data.decode("utf-8", "replace"), "/a/")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "classify": _classify,
    "legacy-name": _legacy,
    "url-path": _url,
    "range": _range,
    "ipmsg-packet": _ipmsg,
    "messenger": _messenger,
    "file-list": _file_list,
    "file-request": _file_request,
    "folder-records": _folder,
    "chat-line": _chat_line,
    "source": _source,
    "chunked": _chunked,
    "answer": _answer,
    "answer-head": _answer_head,
    "html-listing": _html_listing,
    "header-value": _header_value,
}
