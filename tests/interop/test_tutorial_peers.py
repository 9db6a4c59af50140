"""pigeon against peers that make exactly the tutorial's calls (tests/tutorial_peers.py)."""

from __future__ import annotations

import socket
import time

from tests import tutorial_peers as tutorial
from tests.helpers import PIGEON, background, free_port, json_lines, pigeon_server, run_pigeon


def test_tutorial_udp_sender_to_pigeon_recv_utf8_and_gbk() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "2", "--json"]) as server:
        tutorial.udp_send(("127.0.0.1", port), "你好 pigeon")
        tutorial.udp_send(("127.0.0.1", port), "网络调试助手", encoding="gbk")
        assert server.finish() == 0
    got = [(e["text"], e["encoding"]) for e in json_lines(server.out)[1:]]
    assert got == [("你好 pigeon", "utf-8"), ("网络调试助手", "gb18030")]


def test_tutorial_send_and_receive_gets_pigeons_echo() -> None:
    port = free_port(socket.SOCK_DGRAM)
    with pigeon_server(["udp", "recv", "--port", str(port), "-c", "1", "--echo"]):
        text, sender = tutorial.udp_send_and_receive(("127.0.0.1", port), "hello")
    assert text == "hello"
    assert sender[1] == port


def test_pigeon_send_to_tutorial_bound_receiver() -> None:
    port = free_port(socket.SOCK_DGRAM)
    receiver = tutorial.udp_bound_receiver_socket(port)
    result = run_pigeon(["udp", "send", "127.0.0.1", str(port), "绑定端口 7788", "-q"])
    assert result.returncode == 0
    assert tutorial.bound_receive(receiver) == "绑定端口 7788"


def test_pigeon_send_wait_gets_reply_from_tutorial_chat() -> None:
    """The tutorial's chat peer answers whoever wrote; pigeon --wait prints the answer."""
    port = free_port(socket.SOCK_DGRAM)
    chat = tutorial.chat_socket(port)
    with background(
        [*PIGEON, "udp", "send", "127.0.0.1", str(port), "在吗?", "--wait", "5", "--json"]
    ) as pigeon:
        msg, peer = tutorial.chat_recv_msg(chat)
        tutorial.chat_send_msg(chat, "在的", peer[0], peer[1])
        assert pigeon.finish() == 0
    chat.close()
    assert msg == "在吗?"
    replies = [e for e in json_lines(pigeon.out) if e["type"] == "datagram"]
    assert replies[0]["text"] == "在的" and replies[0]["from"] == f"127.0.0.1:{port}"


def test_tutorial_tcp_client_to_pigeon_listen_reply() -> None:
    port = free_port()
    args = ["tcp", "listen", "--port", str(port), "--reply", "thank you !"]
    with pigeon_server(args) as server:
        assert tutorial.tcp_client(("127.0.0.1", port), "你好") == "thank you !"
        assert tutorial.tcp_client(("127.0.0.1", port), "again") == "thank you !"
        server.wait_for(b"again", stream="out")
        deadline = time.monotonic() + 10
        while server.err.count(b"disconnected") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    shown = server.out.decode()
    assert "你好" in shown and "again" in shown
    assert server.err.count(b"disconnected") == 2


def test_pigeon_connect_to_tutorial_tcp_server() -> None:
    port = free_port()
    server = tutorial.tcp_server_socket(port)
    with background([*PIGEON, "tcp", "connect", "127.0.0.1", str(port), "--send", "你好"]) as c:
        assert tutorial.tcp_server_serve_one(server) == "你好"
        assert c.finish() == 0
    assert c.out == b"thank you !"
