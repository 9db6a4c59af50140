"""The ``pigeon`` console entry: ``--version`` answered at once, any other command run by
``cli.dispatch``, then an exit that skips the interpreter's teardown.

``--version`` is the start-up benchmark (``bench/``: under twice ``python -c pass``), so it is
answered before argparse and the rest are imported; that is the one deferred import here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pigeon import __version__


def _silence_broken_stdout() -> None:
    """After EPIPE on stdout (``pigeon ... | head``) keep the interpreter from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run pigeon with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        print(f"pigeon {__version__}")
        return 0
    from pigeon.cli.dispatch import run_command  # after --version: see the module docstring

    try:
        return run_command(args)
    except BrokenPipeError:
        _silence_broken_stdout()
        return 0


def run() -> None:
    """The ``pigeon`` console script and ``python -m pigeon``: ``main()``, then exit at once.

    The interpreter's own teardown (finalizing every imported module) is a noticeable part
    of fetching a small file (bench/analysis.md, "Constants"). pigeon registers no atexit
    work and its threads have ended when ``main`` returns, so once stdout and stderr are
    flushed nothing is left to do. Exceptions (``--debug``) and SystemExit (usage errors,
    ``--help``) leave normally.
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
