"""The words of chat lines: who flooded, sizes in binary units, counts in the right number."""

from __future__ import annotations

import pytest

from pigeon.errors import DatagramTooLong
from pigeon.events import OfferView, PeerTable, SessionEvent, TransferKind, TransferNote
from pigeon.proto.chat import ipmsg
from pigeon.proto.chat.events import Flooded, MessageIn, MessageOut, NotDelivered, PeerInfo
from pigeon.proto.chat.ipmsg_files import REGULAR, FileEntry
from pigeon.ui.chat_lines import SHOWN_CHARS, fragments, marked, plain_text, to_json


def line(event: SessionEvent) -> str:
    parts, _data = fragments(event, 0.0)
    return plain_text(parts)


def test_a_flood_names_the_host_or_says_new_hosts() -> None:
    assert "from 2001:db8::1 (flooding)" in line(Flooded("2001:db8::1", 7))
    assert "from new hosts (flooding)" in line(Flooded("", 7))
    assert to_json(Flooded("", 7), 0.0)["from"] is None
    assert to_json(Flooded("10.0.0.66", 7), 0.0) == {
        "type": "flood",
        "time": to_json(Flooded("", 7), 0.0)["time"],
        "from": "10.0.0.66",
        "dropped": 7,
    }


PEER = PeerInfo(("10.0.0.2", 2425), "bob", "bob", "pc", "", "1_x", "utf-8", False)


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (Flooded("10.0.0.66", 1), "dropped 1 datagram from 10.0.0.66"),
        (Flooded("10.0.0.66", 1500), "dropped 1,500 datagrams from 10.0.0.66"),
        (NotDelivered(3, PEER, 1), "(no acknowledgement after 1 try)"),
        (NotDelivered(3, PEER, 6), "(no acknowledgement after 6 tries)"),
        (PeerTable((PEER,)), "1 peer:\n"),
        (PeerTable((PEER, PEER)), "2 peers:\n"),
        (TransferNote(TransferKind.SENT, 1, "a.bin", "bob", done=1), "a.bin sent to bob (1 byte)"),
        (
            TransferNote(TransferKind.RECEIVED, 1, "a.bin", "bob", done=1536, detail="d"),
            "(1.5 KiB)",
        ),
        (TransferNote(TransferKind.PROGRESS, 1, "a.bin", "bob", 3 << 20, 6 << 20), "50% (3.0 MiB)"),
    ],
)
def test_counts_and_sizes_in_the_shared_words(event: SessionEvent, words: str) -> None:
    assert words in line(event)


def test_offered_sizes_in_binary_units_and_json_keeps_bytes() -> None:
    entries = (FileEntry(0, "a.bin", 1536, 0, REGULAR), FileEntry(1, "b", 1, 0, REGULAR))
    view = OfferView(1, PEER, entries, incoming=True)
    assert "a.bin (1.5 KiB), b (1 byte)" in line(view)
    listed = to_json(view, 0.0)["files"]
    assert isinstance(listed, list) and [f["size"] for f in listed] == [1536, 1]
    for wrong in (" KB", " MB", " B)", "(s)"):
        assert wrong not in line(view) + line(PeerTable((PEER,)))


def test_a_marked_line_counts_its_tries() -> None:
    sent = MessageOut(3, PEER, "hi", True)
    assert plain_text(marked(sent, NotDelivered(3, PEER, 1), 0.0)).endswith("after 1 try)")


def test_unshown_characters_are_counted_in_the_right_number() -> None:
    one = MessageIn(PEER, "x" * (SHOWN_CHARS + 1), "utf-8", False)
    many = MessageIn(PEER, "x" * (SHOWN_CHARS + 2000), "utf-8", False)
    assert line(one).endswith("(1 more character not shown)")
    assert line(many).endswith("(2,000 more characters not shown)")


def test_a_message_too_long_says_its_size_in_counted_bytes() -> None:
    with pytest.raises(DatagramTooLong, match="message is 9,000 bytes encoded; at most 8,192 fit"):
        ipmsg.check_text_size(b"x" * 9000)


def test_both_sides_of_a_transfer_name_the_other() -> None:
    sent = line(TransferNote(TransferKind.SENT, 1, "f.txt", "bob", 1536, 1536))
    got = line(TransferNote(TransferKind.RECEIVED, 1, "f.txt", "alice", 1536, 1536, "in/f.txt"))
    assert "sent to bob (1.5 KiB)" in sent
    assert "received from alice (1.5 KiB) → in/f.txt" in got
