"""``pigeon chat``, ``pigeon send`` and ``pigeon peers``: their arguments into a ``ChatConfig``,
run by ``aio.chat`` (the session) and ``aio.chat_oneshot`` (one message, one roll call); what
happens is shown by ``ui.chat_screen``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import math
import socket
import sys
from pathlib import Path

from pigeon.aio import chat as aio_chat
from pigeon.aio import chat_oneshot
from pigeon.aio.stdin import typed_lines
from pigeon.cli.common import PigeonParser, command, json_flag, positive_int, seconds, summary
from pigeon.config import ChatConfig
from pigeon.errors import UsageError
from pigeon.proto.address import looks_like_address, parse_host, parse_port
from pigeon.proto.chat.commands import peer_address
from pigeon.proto.text import check_encoding
from pigeon.ui.chat_screen import LineView, TerminalView

DEFAULT_CHAT_PORT = 2425
DEFAULT_SEND_TIMEOUT = 5.0
DEFAULT_FILE_TIMEOUT = 600.0
DEFAULT_PEERS_TIMEOUT = 3.0
PEER_FORMS = "HOST, HOST:PORT, [V6]:PORT or V6"
PEER_PORT = f"peers and broadcasts use port {DEFAULT_CHAT_PORT} unless a PEER names its own"


def _identity_options(parser: PigeonParser, *, port_help: str) -> None:
    parser.add_argument("--port", "-p", default=str(DEFAULT_CHAT_PORT), help=port_help)
    parser.add_argument("--bind", default="", metavar="ADDR", help="one local address only")
    parser.add_argument(
        "--name", "--nick", dest="nick", metavar="NICK", help="default: your user name"
    )
    parser.add_argument("--group", default="", metavar="G", help="group shown to others")
    parser.add_argument(
        "--encoding",
        default="auto",
        help="auto (UTF-8 when the peer can, else what it used: GBK/GB18030), or a charset",
    )
    parser.add_argument(
        "--no-broadcast",
        "--no-discovery",
        dest="discovery",
        action="store_false",
        help="broadcast nothing: talk only to the peers given",
    )
    json_flag(parser)


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``chat``, ``send`` and ``peers``."""
    _add_chat(subparsers)
    _add_send(subparsers)
    _add_peers(subparsers)


def _add_chat(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    chat = command(
        subparsers,
        "chat",
        help_text=summary("chat"),
        example="pigeon chat --name alice\n"
        "pigeon chat --no-broadcast --port 2426 127.0.0.1:2425\n"
        "pigeon chat --plain 192.168.1.103:8080      # the tutorial's UDP chat\n"
        "echo hello | pigeon chat 192.168.1.20",
        handler=run_chat,
    )
    chat.add_argument("peers", metavar="PEER", nargs="*", help=f"{PEER_FORMS} to greet and talk to")
    _identity_options(chat, port_help=f"local UDP port (default {DEFAULT_CHAT_PORT}); {PEER_PORT}")
    chat.add_argument(
        "--plain",
        action="append",
        default=[],
        metavar="PEER",
        help="a peer that speaks plain UDP text (nc -u, the tutorial's chat); repeatable",
    )
    chat.add_argument(
        "--keep-open", action="store_true", help="keep running after standard input ends"
    )
    chat.add_argument(
        "--retries", type=positive_int, default=6, metavar="N", help="sends per message (default 6)"
    )
    chat.add_argument(
        "--retry-interval",
        type=seconds,
        default=0.75,
        metavar="SECONDS",
        help="between sends (default 0.75)",
    )
    chat.add_argument(
        "--rate-limit",
        type=positive_int,
        default=200,
        metavar="N",
        help="datagrams per second accepted from one IP, all its ports together (default 200)",
    )


def _add_send(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    send = command(
        subparsers,
        "send",
        help_text=summary("send"),
        example="pigeon send alice 'lunch?'\n"
        "pigeon send 192.168.1.20 你好 --timeout 3\n"
        "pigeon send alice --file report.pdf --file photos/\n"
        "pigeon send 127.0.0.1:7890 hi --plain",
        handler=run_send,
    )
    send.add_argument("target", metavar="NAME|PEER", help=f"a peer's name or address: {PEER_FORMS}")
    send.add_argument("text", metavar="TEXT", nargs="?", default="", help="the message")
    send.add_argument(
        "--file",
        "-f",
        dest="files",
        action="append",
        default=[],
        metavar="PATH",
        help="offer a file or folder (repeatable); waits until the peer has fetched them",
    )
    _identity_options(
        send, port_help=f"local UDP port (default {DEFAULT_CHAT_PORT}, else any); {PEER_PORT}"
    )
    send.add_argument(
        "--timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help=f"wait this long for the acknowledgement (default {DEFAULT_SEND_TIMEOUT:g}; "
        f"with --file, for the download: default {DEFAULT_FILE_TIMEOUT:g})",
    )
    send.add_argument("--plain", action="store_true", help="send bare text (no IP Messenger)")


def _add_peers(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    peers = command(
        subparsers,
        "peers",
        help_text=summary("peers"),
        example="pigeon peers\npigeon peers --timeout 5 --json\n"
        "pigeon peers --no-broadcast 127.0.0.1:2426",
        handler=run_peers,
    )
    peers.add_argument("peers", metavar="PEER", nargs="*", help=f"{PEER_FORMS} to ask as well")
    _identity_options(
        peers, port_help=f"local UDP port (default {DEFAULT_CHAT_PORT}, else any); {PEER_PORT}"
    )
    peers.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_PEERS_TIMEOUT,
        metavar="SECONDS",
        help=f"collect answers this long (default {DEFAULT_PEERS_TIMEOUT:g})",
    )


def _config(args: argparse.Namespace, *, fallback: bool) -> ChatConfig:
    """The config the three commands share, from their common options (``fallback``: another
    local port when ours is taken)."""
    port = parse_port(args.port)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "pigeon"
    # Peers are reached on their own port (2425 unless given), never on our --port.
    peers = tuple((p.host, p.port) for p in map(peer_address, getattr(args, "peers", [])))
    target = getattr(args, "target", "")
    if target and looks_like_address(target):
        peer_address(target)  # a bad port is exit 3 before anything is bound or sent
    return ChatConfig(
        nick=args.nick or user,
        user=user,
        host=socket.gethostname(),
        group=args.group,
        bind=parse_host(args.bind) if args.bind else "",
        port=port,
        encoding=check_encoding(args.encoding, allow_auto=True),
        peers=peers,
        discovery=args.discovery,
        port_fallback=fallback,
    )


def run_chat(args: argparse.Namespace) -> int:
    """Build the config for ``chat`` and run the session on the right view."""
    plain = tuple((p.host, p.port) for p in map(peer_address, args.plain))
    cfg = dataclasses.replace(
        _config(args, fallback=False),
        plain_peers=plain,
        keep_open=args.keep_open,
        tries=args.retries,
        retry_interval=args.retry_interval,
        rate=float(args.rate_limit),
    )
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty() and not args.json
    if on_terminal:
        screen = TerminalView(cfg.nick)
        return asyncio.run(aio_chat.run_chat(cfg, screen.lines(), screen.show))
    view = LineView(json_output=args.json)
    try:
        return asyncio.run(aio_chat.run_chat(cfg, typed_lines(), view.show, strict=True))
    finally:
        view.flush()


def run_send(args: argparse.Namespace) -> int:
    """Send one message; exit 0 once acknowledged, 12 when not delivered."""
    interval = 0.75
    if not args.text and not args.files:
        raise UsageError("nothing to send: give TEXT or --file PATH")
    if args.timeout is None:
        args.timeout = DEFAULT_FILE_TIMEOUT if args.files else DEFAULT_SEND_TIMEOUT
    cfg = dataclasses.replace(
        _config(args, fallback=True),
        tries=max(1, math.ceil(args.timeout / interval)),
        retry_interval=interval,
    )
    view = LineView(json_output=args.json)
    try:
        return asyncio.run(
            chat_oneshot.run_send(
                cfg,
                args.target,
                args.text,
                within=args.timeout,
                plain=args.plain,
                show=view.show,
                paths=tuple(Path(f).expanduser() for f in args.files),
            )
        )
    finally:
        view.flush()


def run_peers(args: argparse.Namespace) -> int:
    """Ask who is there and list the answers."""
    cfg = _config(args, fallback=True)
    view = LineView(json_output=args.json)
    try:
        return asyncio.run(chat_oneshot.run_peers(cfg, within=args.timeout, show=view.show))
    finally:
        view.flush()
