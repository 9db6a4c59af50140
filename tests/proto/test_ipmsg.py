"""IP Messenger codec: real packets from the reference, round trips, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.errors import DatagramTooLong
from pigeon.proto.chat import ipmsg

ALICE_ENTRY = b"1_pigeon_0.1:1795537702:alice:laptop:18874369:Alice\0Team\0"
IPTUX_ANSENTRY = b"1_iptux 0.8.3:4:root:vm:259:root\0\0icon-tux.png\0utf-8\0"
ALICE_MSG = "1_pigeon_0.1:1795537703:alice:laptop:8388896:你好".encode()
IPTUX_ACK = b"1_iptux 0.8.3:5:root:vm:289:1795537703"
FEIQ_ENTRY = (
    b"1_lbt6_0#128#001122334455#0#0#0#4001#9:1700000000:feiq:PC-1:6291459:"
    + "张三".encode("gbk")
    + b"\0"
    + "工作组".encode("gbk")
    + b"\0"
)


def test_reference_entry_packet() -> None:
    packet = ipmsg.parse_packet(ALICE_ENTRY)
    assert packet is not None
    assert packet.version == "1_pigeon_0.1"
    assert packet.packet_no == 1795537702
    assert (packet.user, packet.host) == (b"alice", b"laptop")
    assert packet.mode == ipmsg.BR_ENTRY
    assert packet.has(ipmsg.FILEATTACHOPT) and packet.has(ipmsg.CAPUTF8OPT)
    assert not packet.has(ipmsg.UTF8OPT)
    entry = ipmsg.parse_entry(packet.extra)
    assert (entry.nick, entry.group, entry.encoding_hint) == (b"Alice", b"Team", "")


def test_iptux_answer_names_its_encoding() -> None:
    packet = ipmsg.parse_packet(IPTUX_ANSENTRY)
    assert packet is not None
    assert packet.mode == ipmsg.ANSENTRY
    assert packet.version == "1_iptux 0.8.3"
    entry = ipmsg.parse_entry(packet.extra)
    assert (entry.nick, entry.group, entry.encoding_hint) == (b"root", b"", "utf-8")


def test_message_and_ack_from_the_reference_exchange() -> None:
    message = ipmsg.parse_packet(ALICE_MSG)
    assert message is not None
    assert message.mode == ipmsg.SENDMSG
    assert message.has(ipmsg.SENDCHECKOPT | ipmsg.UTF8OPT)
    assert ipmsg.message_body(message.extra) == ("你好".encode(), b"")
    ack = ipmsg.parse_packet(IPTUX_ACK)
    assert ack is not None and ack.mode == ipmsg.RECVMSG
    assert ipmsg.ack_number(ack.extra) == 1795537703


def test_feiq_entry_with_gbk_names() -> None:
    packet = ipmsg.parse_packet(FEIQ_ENTRY)
    assert packet is not None
    assert packet.version.startswith("1_lbt6_0#128#")
    assert packet.mode == ipmsg.ANSENTRY
    assert packet.has(ipmsg.FILEATTACHOPT | ipmsg.ENCRYPTOPT)
    entry = ipmsg.parse_entry(packet.extra)
    assert entry.nick.decode("gbk") == "张三"
    assert entry.group.decode("gbk") == "工作组"


def test_every_flag_has_its_documented_bit() -> None:
    assert [ipmsg.ABSENCEOPT, ipmsg.SERVEROPT, ipmsg.DIALUPOPT] == [0x100, 0x200, 0x10000]
    assert [ipmsg.FILEATTACHOPT, ipmsg.ENCRYPTOPT, ipmsg.UTF8OPT, ipmsg.CAPUTF8OPT] == [
        0x200000,
        0x400000,
        0x800000,
        0x1000000,
    ]
    assert [ipmsg.SENDCHECKOPT, ipmsg.SECRETOPT, ipmsg.BROADCASTOPT, ipmsg.MULTICASTOPT] == [
        0x100,
        0x200,
        0x400,
        0x800,
    ]
    assert [ipmsg.AUTORETOPT, ipmsg.NOLOGOPT, ipmsg.NOADDLISTOPT, ipmsg.READCHECKOPT] == [
        0x2000,
        0x20000,
        0x80000,
        0x100000,
    ]
    for flag in (ipmsg.SENDCHECKOPT, ipmsg.BROADCASTOPT, ipmsg.AUTORETOPT, ipmsg.UTF8OPT):
        packet = ipmsg.Packet("1", 1, b"u", b"h", ipmsg.SENDMSG | flag, b"x")
        parsed = ipmsg.parse_packet(ipmsg.encode_packet(packet))
        assert parsed is not None and parsed.has(flag) and parsed.mode == ipmsg.SENDMSG


def test_round_trip_keeps_fields_and_adds_the_trailing_nul() -> None:
    packet = ipmsg.Packet("1_pigeon_0.1.0", 42, b"bob", b"box", ipmsg.SENDMSG, "中文".encode("gbk"))
    data = ipmsg.encode_packet(packet)
    assert data.endswith(b"\0")
    assert ipmsg.parse_packet(data) == ipmsg.Packet(
        "1_pigeon_0.1.0", 42, b"bob", b"box", ipmsg.SENDMSG, "中文".encode("gbk") + b"\0"
    )


def test_colons_in_user_and_host_are_replaced_on_the_wire() -> None:
    data = ipmsg.encode_packet(ipmsg.Packet("1", 7, b"a:b", b"h:o:st", ipmsg.NOOPERATION))
    parsed = ipmsg.parse_packet(data)
    assert parsed is not None
    assert (parsed.user, parsed.host, parsed.command) == (b"a_b", b"h_o_st", 0)


def test_entry_extra_carries_utf8_name_lines_and_legacy_fields() -> None:
    extra = ipmsg.entry_extra(nick="小明", group="研发:一组", user="xm", host="pc", legacy="gbk")
    entry = ipmsg.parse_entry(extra)
    assert entry.nick == "小明".encode("gbk")
    assert entry.group == "研发_一组".encode("gbk")  # ':' replaced in the legacy field
    assert entry.utf8_names == {"UN": "xm", "HN": "pc", "NN": "小明", "GN": "研发:一组"}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"hello from nc\n",
        b"1:2:3:4",  # four fields
        b"2:1:u:h:32:x",  # version must start with 1
        b"1:x1:u:h:32:x",  # packet number not decimal
        b"1:1:u:h:0x20:x",  # command not decimal
        b"1:1:u:h:99999999999:x",  # command over 32 bits
        b"1:" + b"9" * 21 + b":u:h:32:x",  # absurd packet number
        b"1\x1b[2J:1:u:h:32:x",  # control characters in the version
        "你好:1:u:h:32:x".encode(),
    ],
)
def test_non_packets_are_none(data: bytes) -> None:
    assert ipmsg.parse_packet(data) is None


def test_five_fields_without_extra_is_a_packet() -> None:
    packet = ipmsg.parse_packet(b"1:5:u:h:2")
    assert packet is not None and packet.mode == ipmsg.BR_EXIT and packet.extra == b""


def test_ack_number_refuses_garbage() -> None:
    assert ipmsg.ack_number(b"12\0") == 12
    assert ipmsg.ack_number(b"") is None
    assert ipmsg.ack_number(b"abc") is None
    assert ipmsg.ack_number(b"9" * 30) is None


def test_text_size_limit() -> None:
    ipmsg.check_text_size(b"x" * ipmsg.MAX_TEXT_BYTES)
    with pytest.raises(DatagramTooLong, match="at most 8,192"):
        ipmsg.check_text_size(b"x" * (ipmsg.MAX_TEXT_BYTES + 1))


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_parse_never_raises(data: bytes) -> None:
    packet = ipmsg.parse_packet(data)
    if packet is not None:
        ipmsg.parse_entry(packet.extra)
        ipmsg.message_body(packet.extra)
        ipmsg.ack_number(packet.extra)


@given(
    st.integers(0, 10**15),
    st.binary(max_size=20),
    st.binary(max_size=20),
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=100),
)
def test_encode_parse_round_trip(no: int, user: bytes, host: bytes, cmd: int, extra: bytes) -> None:
    packet = ipmsg.Packet("1_x", no, user, host, cmd, extra)
    parsed = ipmsg.parse_packet(ipmsg.encode_packet(packet))
    assert parsed is not None
    assert (parsed.packet_no, parsed.command) == (no, cmd)
    assert parsed.user == ipmsg.header_field(user)
    assert parsed.host == ipmsg.header_field(host)
    assert parsed.extra.rstrip(b"\0") == extra.rstrip(b"\0")
