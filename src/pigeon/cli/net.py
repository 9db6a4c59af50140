"""``pigeon ip`` and ``pigeon ping`` arguments."""

from __future__ import annotations

import argparse

from pigeon.cli.common import PigeonParser, command, json_flag, positive_int, seconds

DEFAULT_PING_PORT = 7890


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``ip`` and ``ping``."""
    ip = command(
        subparsers,
        "ip",
        help_text="show interfaces and the address other machines should use (like ipconfig)",
        example="pigeon ip\npigeon ip --json",
        handler=run_ip,
    )
    json_flag(ip)

    ping = command(
        subparsers,
        "ping",
        help_text="time TCP connects to HOST[:PORT] (no root needed, unlike ICMP ping)",
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


def run_ip(args: argparse.Namespace) -> int:
    """Print the interfaces."""
    from pigeon.aio.interfaces import list_interfaces
    from pigeon.ui.netinfo import interfaces_json, interfaces_text
    from pigeon.ui.report import json_line

    interfaces = list_interfaces()
    if args.json:
        print(json_line(interfaces_json(interfaces)))
    else:
        print("\n".join(interfaces_text(interfaces)))
    return 0


def run_ping(args: argparse.Namespace) -> int:
    """Probe the target and print the statistics; the exit code says if anything connected."""
    import json
    import sys

    from pigeon.aio.ping import run_ping as ping
    from pigeon.cli.common import run_async
    from pigeon.config import PingConfig
    from pigeon.proto.address import format_endpoint, parse_destination
    from pigeon.ui.netinfo import ping_summary_lines
    from pigeon.ui.report import Reporter

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
    report = run_async(ping(cfg, reporter))
    peer = format_endpoint(target.host, target.port)
    if args.json:
        s = report.summary
        reporter.data(
            json.dumps(
                {
                    "type": "summary",
                    "peer": peer,
                    "sent": s.sent,
                    "connected": s.answered,
                    "refused": report.refused,
                    "min_ms": s.min_ms,
                    "avg_ms": s.avg_ms,
                    "max_ms": s.max_ms,
                    "mdev_ms": s.mdev_ms,
                }
            )
        )
    else:
        for line in ping_summary_lines(peer, report.summary, report.refused):
            print(line)
    sys.stdout.flush()
    if report.error is not None:
        raise report.error
    return 0
