"""``pigeon udp send`` and ``pigeon udp recv``: their arguments into a config, run by
``aio.udp``; what is sent and received is printed by ``ui.report``."""

from __future__ import annotations

import argparse
import asyncio

from pigeon.aio import udp as aio_udp
from pigeon.cli.common import PigeonParser, command, json_flag, positive_int, seconds, summary
from pigeon.config import UdpRecvConfig, UdpSendConfig
from pigeon.proto.address import parse_destination, parse_host, parse_port
from pigeon.proto.text import check_encoding, encode_text, parse_hex
from pigeon.ui.report import Reporter

DEFAULT_RECV_PORT = 7788
DEFAULT_WAIT = 2.0


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``udp send`` and ``udp recv``."""
    udp = subparsers.add_parser("udp", help=summary("udp"))
    udp_sub = udp.add_subparsers(dest="udp_command", required=True, metavar="{send,recv}")
    _add_send(udp_sub)
    _add_recv(udp_sub)


def _add_send(udp_sub: argparse._SubParsersAction[PigeonParser]) -> None:
    send = command(
        udp_sub,
        "send",
        help_text="send one datagram per TEXT (or per line of standard input)",
        example="pigeon udp send 192.168.1.103 8080 hello\n"
        "pigeon udp send 192.168.1.103:8080 hello\n"
        "pigeon udp send ::1 7788 你好 --encoding gbk --wait 3\n"
        "pigeon udp send [::1]:7788 你好\n"
        "printf 'a\\nb\\n' | pigeon udp send 127.0.0.1 7788",
        handler=run_send,
    )
    send.add_argument(
        "host", metavar="HOST", help="name or address: HOST PORT, HOST:PORT, ::1 PORT, [::1]:PORT"
    )
    send.add_argument(
        "words",
        metavar="PORT TEXT",
        nargs="*",
        help="destination port 1-65535 (unless HOST:PORT), then the payloads; none: read stdin",
    )
    send.add_argument(
        "--wait",
        nargs="?",
        type=seconds,
        const=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"then print replies for SECONDS (default {DEFAULT_WAIT:g}); none is an error",
    )
    send.add_argument("--encoding", default="utf-8", help="charset of TEXT (default utf-8)")
    send.add_argument("--hex", action="store_true", help="TEXT is hex bytes, e.g. 'de ad 01'")
    send.add_argument("--broadcast", action="store_true", help="allow a broadcast address")
    send.add_argument("--quiet", "-q", action="store_true", help="do not report what was sent")
    json_flag(send)


def _add_recv(udp_sub: argparse._SubParsersAction[PigeonParser]) -> None:
    recv = command(
        udp_sub,
        "recv",
        help_text="receive datagrams on a port and print each one",
        example="pigeon udp recv --port 7788\npigeon udp recv --count 1 --json",
        handler=run_recv,
    )
    recv.add_argument(
        "--port", "-p", default=str(DEFAULT_RECV_PORT), help=f"default {DEFAULT_RECV_PORT}"
    )
    recv.add_argument("--bind", default="", metavar="ADDR", help="one local address only")
    recv.add_argument("--count", "-c", type=positive_int, metavar="N", help="stop after N")
    recv.add_argument("--echo", action="store_true", help="send each datagram back")
    recv.add_argument(
        "--encoding", default="auto", help="auto (utf-8, then gb18030, then hex) or a charset"
    )
    recv.add_argument("--quiet", "-q", action="store_true", help="no start-up lines")
    json_flag(recv)


def run_send(args: argparse.Namespace) -> int:
    """Build the config for ``udp send`` and run it."""
    encoding = check_encoding(args.encoding, allow_auto=False)
    peer, texts = parse_destination([args.host, *args.words])
    payloads: tuple[bytes, ...] | None = None
    if texts:
        convert = parse_hex if args.hex else (lambda t: encode_text(t, encoding))
        payloads = tuple(convert(text) for text in texts)
    cfg = UdpSendConfig(
        host=peer.host,
        port=peer.port,
        payloads=payloads,
        encoding=encoding,
        hex_input=args.hex,
        wait=args.wait,
        broadcast=args.broadcast,
    )
    return asyncio.run(aio_udp.run_send(cfg, Reporter(json_output=args.json, quiet=args.quiet)))


def run_recv(args: argparse.Namespace) -> int:
    """Build the config for ``udp recv`` and run it."""
    cfg = UdpRecvConfig(
        bind=parse_host(args.bind) if args.bind else "",
        port=parse_port(args.port),
        count=args.count,
        echo=args.echo,
        encoding=check_encoding(args.encoding, allow_auto=True),
    )
    return asyncio.run(aio_udp.run_recv(cfg, Reporter(json_output=args.json, quiet=args.quiet)))
