"""Peers that make exactly the tutorial's socket calls (shared/seed), to test pigeon against.

Each function mirrors one tutorial program: same socket types, same ``recvfrom(1024)`` /
``recv(1024)`` sizes, same encodings (including its GBK decode). They exist so pigeon is
tested against the programs its users start from, bugs included.
"""

from __future__ import annotations

import socket


def udp_send(dest: tuple[str, int], text: str, encoding: str = "utf-8") -> None:
    """UDP 发送数据: sendto(text.encode(...)) and close."""
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_socket.sendto(text.encode(encoding), dest)
    udp_socket.close()


def udp_send_and_receive(dest: tuple[str, int], text: str) -> tuple[str, tuple[str, int]]:
    """UDP 发送/接收数据: sendto utf-8, recvfrom(1024), decode('gbk') as the tutorial does."""
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_socket.settimeout(5)  # the tutorial blocks forever; a test must not
    udp_socket.sendto(text.encode("utf-8"), dest)
    recv_data = udp_socket.recvfrom(1024)
    udp_socket.close()
    return recv_data[0].decode("gbk"), recv_data[1]


def udp_bound_receiver_socket(port: int) -> socket.socket:
    """UDP 绑定端口: bind(('', port)); the caller then calls ``bound_receive``."""
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_socket.bind(("", port))
    udp_socket.settimeout(5)
    return udp_socket


def bound_receive(udp_socket: socket.socket) -> str:
    """recvfrom(1024) then decode('utf-8'), as the tutorial's bound receiver does."""
    recv_data = udp_socket.recvfrom(1024)
    udp_socket.close()
    return recv_data[0].decode("utf-8")


def chat_socket(port: int) -> socket.socket:
    """UDP 聊天器: bind(("", port)) once; send_msg / recv_msg use this socket."""
    udp_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_socket.bind(("", port))
    udp_socket.settimeout(5)
    return udp_socket


def chat_send_msg(udp_socket: socket.socket, msg: str, dest_ip: str, dest_port: int) -> None:
    """send_msg: sendto(msg.encode("utf-8"), (dest_ip, dest_port))."""
    udp_socket.sendto(msg.encode("utf-8"), (dest_ip, dest_port))


def chat_recv_msg(udp_socket: socket.socket) -> tuple[str, tuple[str, int]]:
    """recv_msg: recvfrom(1024), decode("utf-8")."""
    recv_msg = udp_socket.recvfrom(1024)
    return recv_msg[0].decode("utf-8"), recv_msg[1]


def tcp_client(server: tuple[str, int], send_data: str) -> str:
    """TCP 客户端: connect, send utf-8, recv(1024), decode utf-8, close."""
    tcp_client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_client_socket.settimeout(5)
    tcp_client_socket.connect(server)
    tcp_client_socket.send(send_data.encode("utf-8"))
    recv_data = tcp_client_socket.recv(1024)
    tcp_client_socket.close()
    return recv_data.decode("utf-8")


def tcp_server_socket(port: int) -> socket.socket:
    """TCP 服务器: bind(('', port)), listen(128); ``tcp_server_serve_one`` does the rest."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
    sock.listen(128)
    sock.settimeout(10)
    return sock


def tcp_server_serve_one(server: socket.socket) -> str:
    """accept, recv(1024), print-decode utf-8, send "thank you !", close."""
    client_socket, _addr = server.accept()
    client_socket.settimeout(5)
    recv_data = client_socket.recv(1024)
    client_socket.send(b"thank you !")
    client_socket.close()
    server.close()
    return recv_data.decode("utf-8")


def file_client(server: tuple[str, int], file_name: str) -> bytes:
    """文件下载器 client: connect, send the name, recv(1024) once; data only if any came."""
    tcp_client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp_client_socket.settimeout(10)
    tcp_client_socket.connect(server)
    tcp_client_socket.send(file_name.encode("utf-8"))
    recv_data = tcp_client_socket.recv(1024)
    tcp_client_socket.close()
    return recv_data


def read_until_close(server: tuple[str, int], name: bytes) -> bytes:
    """The tutorial's protocol done properly: send the name, read until the server closes."""
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(name)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def file_server_serve_one(server: socket.socket, folder: str) -> str:
    """文件下载器 server: accept, recv(1024), read the whole file, one send(), close."""
    client_socket, _addr = server.accept()
    client_socket.settimeout(5)
    recv_data = client_socket.recv(1024)
    file_name = recv_data.decode("utf-8")
    file_content = None
    try:
        with open(f"{folder}/{file_name}", "rb") as f:  # noqa: PTH123 - the tutorial's call
            file_content = f.read()
    except OSError:
        pass
    if file_content:
        client_socket.send(file_content)
    client_socket.close()
    return file_name
