"""``pigeon serve``: its arguments into a ``ServeConfig``, served by ``aio.serve`` until Ctrl-C;
the access log and notices are printed by ``ui.report``."""

from __future__ import annotations

import argparse
import asyncio

from pigeon.aio import serve as aio_serve
from pigeon.cli.common import PigeonParser, command, positive_int, seconds, summary
from pigeon.config import ServeConfig
from pigeon.fs.digest_store import default_path
from pigeon.proto.address import parse_host, parse_port
from pigeon.ui.report import Reporter

DEFAULT_SERVE_PORT = 7890


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``serve``."""
    serve = command(
        subparsers,
        "serve",
        help_text=summary("serve"),
        example="pigeon serve                 # the current folder on port 7890\n"
        "pigeon serve ~/Public --port 8000 --bind 192.168.1.7",
        handler=run_serve,
    )
    serve.add_argument("root", metavar="DIR", nargs="?", default=".", help="default: here")
    serve.add_argument("--port", "-p", default=str(DEFAULT_SERVE_PORT), help="default 7890")
    serve.add_argument("--bind", default="", metavar="ADDR", help="one local address only")
    serve.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="serve symlinks that lead outside DIR (refused by default)",
    )
    serve.add_argument("--hidden", action="store_true", help="list and serve dot-files")
    serve.add_argument("--quiet", "-q", action="store_true", help="no access log")
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    _limit_options(serve)
    serve.add_argument(
        "--no-sendfile",
        action="store_true",
        help="copy with read/write instead of zero-copy sendfile",
    )
    _digest_cache_options(serve)


def _limit_options(serve: PigeonParser) -> None:
    """What one client, or all of them together, may hold: connections, sizes and times."""
    serve.add_argument(
        "--max-connections",
        type=positive_int,
        default=2000,
        metavar="N",
        help="answer 503 beyond N open connections (default 2000)",
    )
    serve.add_argument(
        "--max-listing",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="list at most N entries of a folder; the page says how many were left out "
        "(default 100000)",
    )
    serve.add_argument(
        "--header-timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="time allowed to send a request head (slowloris guard; default 10)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="keep-alive idle time before closing (default 30)",
    )
    serve.add_argument(
        "--stall-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="drop a client that accepts no data for S seconds (default 60)",
    )
    serve.add_argument(
        "--max-header-bytes",
        type=positive_int,
        default=16384,
        metavar="N",
        help="largest request head (431 beyond; default 16384)",
    )
    serve.add_argument(
        "--grace",
        type=seconds,
        default=5.0,
        metavar="S",
        help="on Ctrl-C, let transfers finish for S seconds (default 5)",
    )


def _digest_cache_options(serve: PigeonParser) -> None:
    """Where the SHA-256 digests of served files are kept, if anywhere but memory."""
    cache = serve.add_mutually_exclusive_group()
    cache.add_argument(
        "--digest-cache",
        metavar="PATH",
        help="where SHA-256 digests are kept across restarts "
        "(default $XDG_CACHE_HOME/pigeon/digests.sqlite3, else ~/.cache/pigeon/...)",
    )
    cache.add_argument(
        "--no-digest-cache",
        action="store_true",
        help="keep digests in memory only (computed again after a restart)",
    )


def run_serve(args: argparse.Namespace) -> int:
    """Build the config for ``serve`` and run it until Ctrl-C or SIGTERM."""
    cfg = ServeConfig(
        root=args.root,
        bind=parse_host(args.bind) if args.bind else "",
        port=parse_port(args.port),
        follow_symlinks=args.follow_symlinks,
        hidden=args.hidden,
        quiet=args.quiet,
        log_json=args.log_format == "json",
        max_connections=args.max_connections,
        max_listing=args.max_listing,
        max_header_bytes=args.max_header_bytes,
        header_timeout=args.header_timeout,
        idle_timeout=args.idle_timeout,
        stall_timeout=args.stall_timeout,
        grace=args.grace,
        use_sendfile=not args.no_sendfile,
        digest_cache=None
        if args.no_digest_cache
        else args.digest_cache or str(default_path() or "") or None,
    )
    return asyncio.run(aio_serve.run_serve(cfg, Reporter()))
