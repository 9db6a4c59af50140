"""One run of a command: the top-level parser, the invoked command's module, and its errors
mapped to one line on stderr and an exit code.

Only the invoked command's module is imported (``COMMANDS`` names it): that import brings the
machinery the command needs. ``pigeon --help`` and a mistyped command list every command from
the table alone.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pigeon import __version__
from pigeon.cli.common import COMMANDS, PigeonParser, exit_codes_help
from pigeon.errors import EXIT_INTERRUPTED, PigeonError
from pigeon.ui.errors import show_error


def _invoked(args: Sequence[str]) -> str | None:
    """The command word in ``args`` (global options take no values), if it is one."""
    word = next((a for a in args if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(args: Sequence[str] = ()) -> PigeonParser:
    """The argument parser for ``args``: the named command's, or the listing of every command."""
    parser = PigeonParser(
        prog="pigeon",
        description="Talk to the next machine on a LAN: datagrams, streams, and more.",
        epilog="example:\n  pigeon udp send 192.168.1.103 8080 hello\n\n" + exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", "-V", action="version", version=f"pigeon {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    invoked = _invoked(args)
    if invoked is None:  # help, or a word that is no command: the listing, never parsed into
        for word, (_, line) in COMMANDS.items():
            sub.add_parser(word, help=line)
    else:
        module, _ = COMMANDS[invoked]
        importlib.import_module(f"pigeon.cli.{module}").register(sub)
    return parser


def run_command(argv: Sequence[str]) -> int:
    """Parse ``argv``, run the command, and return its exit code; a PigeonError is one line
    on stderr (a traceback with ``--debug``)."""
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except PigeonError as exc:
        if args.debug:
            raise
        sys.stdout.flush()
        show_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("pigeon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
