"""``pigeon ping``: its arguments into a ``PingConfig``, probed by ``aio.ping``; each probe is
printed by ``ui.report``, the statistics by ``ui.netinfo``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pigeon.aio import ping as aio_ping
from pigeon.cli.common import PigeonParser, command, json_flag, positive_int, seconds, summary
from pigeon.config import PingConfig
from pigeon.proto.address import format_endpoint, parse_destination
from pigeon.ui.netinfo import show_ping_summary
from pigeon.ui.report import Reporter

DEFAULT_PING_PORT = 7890


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``ping``."""
    ping = command(
        subparsers,
        "ping",
        help_text=summary("ping"),
        example="pigeon ping 192.168.1.103:22\npigeon ping 192.168.1.103 22 -c 3\n"
        "pigeon ping [::1]:7890 -c 10",
        handler=run_ping,
    )
    ping.add_argument(
        "target", metavar="HOST", help="name or address: HOST, HOST PORT, HOST:PORT, [::1]:PORT"
    )
    ping.add_argument(
        "port",
        metavar="PORT",
        nargs="?",
        help=f"TCP port 1-65535 (unless HOST:PORT; default {DEFAULT_PING_PORT})",
    )
    ping.add_argument("-c", "--count", type=positive_int, default=4, metavar="N", help="default 4")
    ping.add_argument(
        "-i", "--interval", type=seconds, default=1.0, metavar="SECONDS", help="default 1"
    )
    ping.add_argument("--timeout", type=seconds, default=2.0, metavar="SECONDS", help="default 2")
    json_flag(ping)


def run_ping(args: argparse.Namespace) -> int:
    """Probe the target and print the statistics; the exit code says if anything connected."""
    words = [args.target] if args.port is None else [args.target, args.port]
    target, _ = parse_destination(words, default_port=DEFAULT_PING_PORT, more=False)
    cfg = PingConfig(
        host=target.host,
        port=target.port,
        count=args.count,
        interval=args.interval,
        timeout=args.timeout,
    )
    reporter = Reporter(json_output=args.json)
    report = asyncio.run(aio_ping.run_ping(cfg, reporter))
    peer = format_endpoint(target.host, target.port)
    show_ping_summary(peer, report.summary, report.refused, reporter)
    sys.stdout.flush()
    if report.error is not None:
        raise report.error
    return 0
