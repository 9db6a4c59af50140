"""Shared pieces of the command line: the one-line-error parser, examples, async runner."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

Handler = Callable[[argparse.Namespace], int]
Subparsers = "argparse._SubParsersAction[PigeonParser]"


class PigeonParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus where to find help), exit 2.

    With ``intermixed`` set, options may stand between positional arguments
    (``pigeon udp send HOST PORT --hex 'de ad' 'be ef'``).
    """

    intermixed = False
    _in_intermixed = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self.intermixed and not self._in_intermixed:
            self._in_intermixed = True  # parse_known_intermixed_args calls back into us
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._in_intermixed = False
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def command(
    subparsers: argparse._SubParsersAction[PigeonParser],
    name: str,
    *,
    help_text: str,
    example: str,
    handler: Handler,
) -> PigeonParser:
    """Add a sub-command whose ``--help`` ends with an example."""
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text[:1].upper() + help_text[1:] + ".",
        epilog="example:\n" + "\n".join(f"  {line}" for line in example.splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    parser.set_defaults(handler=handler)
    return parser


def seconds(text: str) -> float:
    """argparse type: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text!r} must be zero or more seconds")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop (uvloop is not used unless measured to help)."""
    import asyncio

    return asyncio.run(coro)


def json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: one JSON object per line on stdout."""
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")


def stdin_is_terminal() -> bool:
    """True when standard input is an interactive terminal."""
    return sys.stdin is not None and sys.stdin.isatty()
