"""The one line a failure is told in, on stderr: an error may quote a peer (a server's
Content-Type, a redirect, a file name), so its text is never printed raw to a terminal."""

from __future__ import annotations

import sys

from pigeon.proto.text import escape_controls


def show_error(exc: BaseException) -> None:
    """``pigeon: <message>`` on stderr, control characters escaped."""
    print(f"pigeon: {escape_controls(str(exc), keep_backslashes=True)}", file=sys.stderr)
