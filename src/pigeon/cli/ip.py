"""``pigeon ip``: the interfaces ``aio.interfaces`` finds, shown by ``ui.netinfo``.

Kept apart from ``ping`` so that listing interfaces never imports asyncio."""

from __future__ import annotations

import argparse

from pigeon.aio.interfaces import list_interfaces
from pigeon.cli.common import PigeonParser, command, json_flag, summary
from pigeon.ui.netinfo import show_interfaces


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``ip``."""
    ip = command(
        subparsers,
        "ip",
        help_text=summary("ip"),
        example="pigeon ip\npigeon ip --json",
        handler=run_ip,
    )
    json_flag(ip)


def run_ip(args: argparse.Namespace) -> int:
    """Print the interfaces."""
    show_interfaces(list_interfaces(), json_output=args.json)
    return 0
