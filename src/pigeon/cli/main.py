"""The ``pigeon`` entry point: dispatch to a command, turn errors into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pigeon import __version__

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: `pigeon --version` stays without typing
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_CODES_HELP = """\
exit codes:
  0 ok              1 other error       2 usage error        3 port out of range
  4 bad --hex input 5 unknown host      6 connection refused 7 network unreachable
  8 port in use     9 permission denied 10 datagram too long 11 timed out
  12 not delivered  13 protocol error   14 connection lost   15 integrity error
  16 HTTP error     17 destination exists 18 cannot write     19 file being downloaded
  130 interrupted"""


# Which module registers each command, in the order ``pigeon --help`` lists them.
COMMAND_MODULES = {
    "serve": "serve",
    "get": "get",
    "chat": "chat",
    "send": "chat",
    "peers": "chat",
    "udp": "udp",
    "tcp": "tcp",
    "ip": "net",
    "ping": "net",
}


def _invoked(args: Sequence[str]) -> str | None:
    """The command word in ``args`` (global options take no values), if it is one."""
    word = next((a for a in args if not a.startswith("-")), None)
    return word if word in COMMAND_MODULES else None


def build_parser(args: Sequence[str] = ()) -> object:
    """The argument parser (imports argparse and the command modules).

    When ``args`` names a command, only that command's module is imported and registered:
    building every subcommand's parser is a measurable part of start-up. Otherwise (help,
    a typo) every command is registered so the usage lists them all.
    """
    import argparse
    import importlib

    from pigeon.cli.common import PigeonParser

    parser = PigeonParser(
        prog="pigeon",
        description="Talk to the next machine on a LAN: datagrams, streams, and more.",
        epilog="example:\n  pigeon udp send 192.168.1.103 8080 hello\n\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", "-V", action="version", version=f"pigeon {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    invoked = _invoked(args)
    every = list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in [COMMAND_MODULES[invoked]] if invoked else every:
        importlib.import_module(f"pigeon.cli.{name}").register(sub)
    return parser


def _silence_broken_stdout() -> None:
    """After EPIPE on stdout (``pigeon ... | head``) keep the interpreter from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run pigeon with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in (["--version"], ["-V"]):
        # Fast path: `pigeon --version` is what start-up time is measured with.
        print(f"pigeon {__version__}")
        return 0

    import argparse

    from pigeon.errors import EXIT_INTERRUPTED, PigeonError

    parser = build_parser(args_list)
    assert isinstance(parser, argparse.ArgumentParser)
    args = parser.parse_args(args_list)
    debug = bool(getattr(args, "debug", False))
    try:
        result: int = args.handler(args)
        return result
    except PigeonError as exc:
        if debug:
            raise
        sys.stdout.flush()
        # an error may quote a peer (a server's Content-Type, a redirect): never raw
        from pigeon.proto.text import escape_controls  # the error path only: start-up

        print(f"pigeon: {escape_controls(str(exc), keep_backslashes=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        print("pigeon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_broken_stdout()
        return 0


def run() -> NoReturn:
    """The ``pigeon`` console script and ``python -m pigeon``: ``main()``, then exit at once.

    The interpreter's own teardown (finalizing every imported module) is a noticeable part
    of fetching a small file (bench/analysis.md, "Constants"). pigeon registers no atexit
    work and its threads have
    ended when ``main`` returns, so once stdout and stderr are flushed nothing is left to
    do. Exceptions (``--debug``) and SystemExit (usage errors, ``--help``) leave normally.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        _silence_broken_stdout()
    except (OSError, ValueError):  # a closed or failing stream: nothing more can be said
        pass
    os._exit(code)
