"""``pigeon tcp connect`` and ``pigeon tcp listen``: their arguments into a config, run by
``aio.tcp``; a peer's stream on a terminal is shown by ``ui.stream``, the rest by ``ui.report``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pigeon.aio import tcp as aio_tcp
from pigeon.cli.common import PigeonParser, command, json_flag, positive_int, seconds, summary
from pigeon.config import TcpConnectConfig, TcpListenConfig
from pigeon.errors import UsageError
from pigeon.proto.address import parse_destination, parse_host, parse_port
from pigeon.proto.text import check_encoding, encode_text
from pigeon.ui.report import Reporter
from pigeon.ui.stream import TerminalStream, write_to_terminal

DEFAULT_LISTEN_PORT = 7788
SEND_REPLY_TIMEOUT = 10.0


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``tcp connect`` and ``tcp listen``."""
    tcp = subparsers.add_parser("tcp", help=summary("tcp"))
    tcp_sub = tcp.add_subparsers(dest="tcp_command", required=True, metavar="{connect,listen}")
    _add_connect(tcp_sub)
    _add_listen(tcp_sub)


def _add_connect(tcp_sub: argparse._SubParsersAction[PigeonParser]) -> None:
    connect = command(
        tcp_sub,
        "connect",
        help_text="connect, copy stdin to the peer and the peer to stdout (like nc)",
        example="pigeon tcp connect 192.168.1.103 7788 --send hello\n"
        "tar c docs | pigeon tcp connect [::1] 9000",
        handler=run_connect,
    )
    connect.add_argument(
        "host", metavar="HOST", help="name or address: HOST PORT, HOST:PORT, ::1 PORT, [::1]:PORT"
    )
    connect.add_argument(
        "port", metavar="PORT", nargs="?", help="destination port, 1-65535 (unless HOST:PORT)"
    )
    connect.add_argument(
        "--send",
        metavar="TEXT",
        help="send TEXT, half-close, print the reply until the peer closes",
    )
    connect.add_argument("--encoding", default="utf-8", help="charset of --send (default utf-8)")
    connect.add_argument(
        "--timeout",
        type=seconds,
        metavar="SECONDS",
        help=f"stop after SECONDS of silence (default: none; {SEND_REPLY_TIMEOUT:g} with --send)",
    )
    connect.add_argument(
        "--connect-timeout", type=seconds, default=10.0, metavar="SECONDS", help="default 10"
    )


def _add_listen(tcp_sub: argparse._SubParsersAction[PigeonParser]) -> None:
    listen = command(
        tcp_sub,
        "listen",
        help_text="accept many clients at once and show what each sends; "
        "--raw: a byte stream on stdin/stdout, like nc -l",
        example='pigeon tcp listen --port 7788 --reply "thank you !"\n'
        "pigeon tcp listen --echo\n"
        "pigeon tcp listen --port 9000 --raw --once > backup.tar   "
        "# then: tar c docs | pigeon tcp connect [::1] 9000\n"
        "pigeon tcp listen --port 9000 --raw --once < notes.txt    "
        "# then: pigeon tcp connect [::1] 9000 > copy.txt",
        handler=run_listen,
    )
    listen.add_argument(
        "--port", "-p", default=str(DEFAULT_LISTEN_PORT), help=f"default {DEFAULT_LISTEN_PORT}"
    )
    listen.add_argument("--bind", default="", metavar="ADDR", help="one local address only")
    answer = listen.add_mutually_exclusive_group()
    answer.add_argument("--reply", metavar="TEXT", help="answer a client's first data, then close")
    answer.add_argument("--echo", action="store_true", help="send everything back")
    answer.add_argument(
        "--raw",
        action="store_true",
        help="as nc -l: a client's bytes to stdout unchanged, stdin to the client, each side "
        "half-closed on its own end; clients one at a time (as nc -l -k), stdout shared",
    )
    listen.add_argument(
        "--once",
        action="store_true",
        help="exit after the first client leaves (with --raw: the only client; stdout ends "
        "when it has sent everything)",
    )
    listen.add_argument("--encoding", default="auto", help="how to show data (default auto)")
    listen.add_argument(
        "--max-clients", type=positive_int, default=1000, metavar="N", help="default 1000"
    )
    listen.add_argument("--quiet", "-q", action="store_true", help="no connect/disconnect lines")
    json_flag(listen)


def run_connect(args: argparse.Namespace) -> int:
    """Build the config for ``tcp connect`` and run it."""
    send = None
    if args.send is not None:
        send = encode_text(args.send, check_encoding(args.encoding, allow_auto=False))
    idle = args.timeout
    if idle is None and send is not None:
        idle = SEND_REPLY_TIMEOUT
    words = [args.host] if args.port is None else [args.host, args.port]
    peer, _ = parse_destination(words, more=False)
    cfg = TcpConnectConfig(
        host=peer.host,
        port=peer.port,
        send=send,
        connect_timeout=args.connect_timeout,
        idle_timeout=idle,
    )
    if not sys.stdout.isatty():
        return asyncio.run(aio_tcp.run_connect(cfg, Reporter()))  # piped: the peer's bytes, exactly
    shown = TerminalStream(write_to_terminal)  # a terminal: escaped, as udp recv shows datagrams
    try:
        return asyncio.run(aio_tcp.run_connect(cfg, Reporter(), shown))
    finally:
        shown.close()


def run_listen(args: argparse.Namespace) -> int:
    """Build the config for ``tcp listen`` and run it."""
    if args.raw and args.json:
        raise UsageError("--raw writes the client's bytes to stdout: --json cannot share it")
    cfg = TcpListenConfig(
        bind=parse_host(args.bind) if args.bind else "",
        port=parse_port(args.port),
        reply=None if args.reply is None else encode_text(args.reply, "utf-8"),
        echo=args.echo,
        once=args.once,
        encoding=check_encoding(args.encoding, allow_auto=True),
        max_clients=args.max_clients,
        raw=args.raw,
    )
    return asyncio.run(aio_tcp.run_listen(cfg, Reporter(json_output=args.json, quiet=args.quiet)))
