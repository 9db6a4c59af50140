"""Shared pieces of the command line: the command table, the one-line-error parser, the exit
codes a ``--help`` lists, examples, and the argument types the commands share.

Nothing here imports more than argparse and typing: ``pigeon --help`` is built from this module
and ``cli.dispatch`` alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn

from pigeon.errors import PigeonError

Handler = Callable[[argparse.Namespace], int]

COMMANDS = {
    # word: (the pigeon.cli module that defines it, the line ``pigeon --help`` shows for it),
    # in that listing's order; the listing is built from here, importing no command's module
    "serve": ("serve", "share a folder read-only over HTTP/1.1 and the tutorial's file protocol"),
    "get": ("get", "download files over HTTP, resumable and verified (SHA-256)"),
    "chat": (
        "chat",
        "chat on the LAN (IP Messenger: 飞鸽传书, FeiQ, iptux; nc -u and plain UDP too)",
    ),
    "send": ("chat", "send one chat message and wait for the acknowledgement"),
    "peers": ("chat", "list who is on the LAN (IP Messenger peers answering a broadcast)"),
    "udp": ("udp", "send and receive UDP datagrams"),
    "tcp": ("tcp", "open or accept TCP streams"),
    "ip": ("ip", "show interfaces and the address other machines should use (like ipconfig)"),
    "ping": ("ping", "time TCP connects to HOST[:PORT] (no root needed, unlike ICMP ping)"),
}

EXIT_CODES = {
    0: "ok",
    1: "other error",
    2: "usage error",
    3: "port out of range",
    4: "bad --hex input",
    5: "unknown host",
    6: "connection refused",
    7: "network unreachable",
    8: "port in use",
    9: "permission denied",
    10: "datagram too long",
    11: "timed out",
    12: "not delivered",
    13: "protocol error",
    14: "connection lost",
    15: "integrity error",
    16: "HTTP error",
    17: "destination exists",
    18: "cannot write",
    19: "file being downloaded",
    130: "interrupted",
    141: "output closed (its reader went away)",
}
"""Every exit code pigeon has and what it means (``pigeon --help`` lists them all)."""


class Interrupted(PigeonError):
    """Ctrl-C, with something worth saying about what was kept (a command's own line)."""

    exit_code = 130


class OutputClosed(PigeonError):
    """Stdout's reader went away mid-run (``| head``): the work stopped; as a shell's 141
    (SIGPIPE), so a script's pipefail sees that it did not finish."""

    exit_code = 141


def summary(word: str) -> str:
    """What the command ``word`` does: its line in ``pigeon --help``."""
    return COMMANDS[word][1]


def exit_codes_help(codes: Iterable[int] = EXIT_CODES) -> str:
    """``codes`` as an epilog paragraph: four to a row, each column as wide as its widest."""
    cells = [f"{code} {EXIT_CODES[code]}" for code in codes]
    rows = [cells[i : i + 4] for i in range(0, len(cells), 4)]
    widths = [max(len(row[col]) for row in rows if col < len(row)) for col in range(4)]
    lines = [" ".join(cell.ljust(widths[col]) for col, cell in enumerate(row)) for row in rows]
    return "exit codes:\n" + "\n".join(f"  {line.rstrip()}" for line in lines)


class PigeonParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus where to find help), exit 2.

    With ``intermixed`` set, options may stand between positional arguments
    (``pigeon udp send HOST PORT --hex 'de ad' 'be ef'``).
    """

    intermixed = False
    _in_intermixed = False

    def parse_known_args(  # type: ignore[override]  # typeshed's overloads; one form is used
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = sys.argv[1:] if args is None else list(args)
        if self.intermixed and not self._in_intermixed and self._positional_first(words):
            self._in_intermixed = True  # parse_known_intermixed_args calls back into us
            try:
                return self.parse_known_intermixed_args(words, namespace)
            finally:
                self._in_intermixed = False
        return super().parse_known_args(words, namespace)

    def _positional_first(self, words: list[str]) -> bool:
        """False when a "--" comes before any positional word: intermixed parsing (3.11)
        drops such a "--" and reads the words after it as options, where the plain parse
        takes them as positionals, as asked. Option values are told from positionals by
        the options' own arity."""
        i = 0
        while i < len(words) and words[i] != "--":
            word = words[i]
            if not word.startswith("-") or word == "-":
                return True  # a positional before any "--"
            action = self._option_string_actions.get(word)
            if action is not None and isinstance(action.nargs, int):
                i += action.nargs  # "-o OUT": OUT is the option's, not a positional
            elif action is not None and action.nargs is None:
                i += 1
            i += 1
        return i == len(words)  # no "--" at all: intermixed as usual

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def command(
    subparsers: argparse._SubParsersAction[PigeonParser],
    name: str,
    *,
    help_text: str,
    example: str,
    handler: Handler,
    codes: Iterable[int] = (),
) -> PigeonParser:
    """Add a sub-command whose ``--help`` ends with an example, then the exit ``codes`` that
    apply to it when given."""
    epilog = "example:\n" + "\n".join(f"  {line}" for line in example.splitlines())
    if codes:
        epilog += "\n\n" + exit_codes_help(codes)
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=help_text[:1].upper() + help_text[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    parser.set_defaults(handler=handler)
    # options anywhere, as users type them: "pigeon get HOST -r sub" must not leave "sub"
    # unrecognized because argparse matched every positional at once before the option
    parser.intermixed = True
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


def positive_seconds(text: str) -> float:
    """argparse type: more than zero seconds (a limit of nothing would fail every wait)."""
    value = seconds(text)
    if value == 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be more than zero seconds (and finite)")
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


def json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: one JSON object per line on stdout."""
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")


def stdin_is_terminal() -> bool:
    """True when standard input is an interactive terminal."""
    return sys.stdin is not None and sys.stdin.isatty()
