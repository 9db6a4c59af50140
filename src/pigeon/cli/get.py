"""``pigeon get`` arguments."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from pigeon.cli.common import PigeonParser, command, json_flag, seconds

if TYPE_CHECKING:
    from pigeon.errors import PigeonError
    from pigeon.ui.progress import TransferDisplay
    from pigeon.ui.report import Reporter


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``get``."""
    get = command(
        subparsers,
        "get",
        help_text="download files over HTTP, resumable and verified (SHA-256)",
        example="pigeon get 192.168.1.7 notes.txt          # from pigeon serve, port 7890\n"
        "pigeon get [::1]:8000 big.iso -o /tmp/\n"
        "pigeon get 192.168.1.7:8000/docs/notes.txt  # HOST:PORT/PATH\n"
        "pigeon get http://host/file.tar.gz -o - | tar xz",
        handler=run_get,
    )
    get.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="HOST, HOST:PORT or [V6]:PORT, each maybe with /PATH, or an http:// URL"
        " (none, on a terminal: asks)",
    )
    get.add_argument("paths", metavar="PATH", nargs="*", help="files on the server")
    get.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="file, folder (existing, or ending in / to create it), or - for stdout",
    )
    get.add_argument("--retries", type=int, default=4, metavar="N", help="default 4")
    get.add_argument("--timeout", type=seconds, default=30.0, metavar="S", help="default 30")
    get.add_argument("--force", action="store_true", help="replace an existing file")
    get.add_argument("--no-resume", action="store_true", help="ignore a .part from before")
    get.add_argument("--quiet", "-q", action="store_true", help="no progress or notices")
    get.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="mirror a folder (pigeon serve's listing, or any HTML listing as wget -r -np)",
    )
    get.add_argument(
        "--hidden", action="store_true", help="with -r: also dot-files and dot-folders"
    )
    get.add_argument(
        "--wait-lock",
        action="store_true",
        help="when another pigeon get is writing the same file, wait for it (else exit 19)",
    )
    get.add_argument(
        "--legacy",
        action="store_true",
        help="the tutorial's protocol: send the name, read until close (unverified)",
    )
    json_flag(get)


def run_get(args: argparse.Namespace) -> int:
    """Download each PATH (or the SOURCE URL itself); a failed one does not stop the rest."""

    from pigeon.errors import PigeonError
    from pigeon.ui.progress import TransferDisplay
    from pigeon.ui.report import Reporter

    if args.source is None:
        args.source, args.paths = _ask()
    paths = args.paths or [None]
    _check_arguments(args, paths)
    reporter = Reporter(json_output=args.json, quiet=args.quiet)
    failures: list[tuple[str, PigeonError]] = []
    # the body going to this terminal: no bars to mix into it (as curl turns its meter off)
    bars = not (args.output == "-" and sys.stdout.isatty())
    with TransferDisplay(json_output=args.json, quiet=args.quiet, bars=bars) as display:
        for path in paths:
            try:
                failures += _get_one(args, path, display, reporter)
            except PigeonError as exc:
                if len(paths) == 1:
                    raise
                failures.append((path or args.source, exc))
                print(f"pigeon: {exc}", file=sys.stderr)
    if failures:
        raise _summary(failures, len(paths) if not args.recursive else None)
    return 0


def _check_arguments(args: argparse.Namespace, paths: list[str | None]) -> None:
    """Everything that can be wrong with the command line, before any request."""
    from pigeon.errors import UsageError

    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if args.legacy and paths == [None]:
        raise UsageError("--legacy needs the file name: pigeon get HOST:PORT NAME --legacy")
    out = args.output
    if out == "-" and (len(paths) > 1 or args.recursive):
        raise UsageError(
            "-o - takes exactly one file" if len(paths) > 1 else "-r cannot write to stdout"
        )
    several = len(paths) > 1 or args.recursive
    if several and out is not None and not _names_folder(out):
        from pathlib import Path

        if Path(out).exists() or not args.recursive:
            raise UsageError(
                f"-o {out} is not a folder: with several files, -o names a folder (end it with /)"
            )


def _names_folder(out: str) -> bool:
    import os
    from pathlib import Path

    return out.endswith(("/", os.sep)) or Path(out).is_dir()


def _summary(failures: list[tuple[str, PigeonError]], total: int | None) -> PigeonError:
    """One line naming every failure; the exit code is the first failure's."""
    from pigeon.errors import PigeonError

    names = ", ".join(name for name, _ in failures[:20])
    more = f" and {len(failures) - 20} more" if len(failures) > 20 else ""
    counted = f"{len(failures)} of {total}" if total is not None else str(len(failures))
    error = PigeonError(f"{counted} failed: {names}{more}")
    error.exit_code = failures[0][1].exit_code
    return error


def _get_one(
    args: argparse.Namespace, path: str | None, display: TransferDisplay, reporter: Reporter
) -> list[tuple[str, PigeonError]]:
    """Download one PATH: a file, a folder with -r, or a name with --legacy. Returns the
    failures inside a mirror (a single file raises instead)."""
    from pathlib import Path

    from pigeon.aio.get import download_async
    from pigeon.aio.legacy import download_legacy
    from pigeon.cli.common import run_async
    from pigeon.errors import ProtocolError
    from pigeon.proto.http.source import parse_source
    from pigeon.proto.local_names import safe_local_name

    source = parse_source(args.source, path)
    if args.recursive:
        from pigeon.aio.mirror import mirror_async

        name = safe_local_name(source.name) if path and source.name else ""
        folder = Path(args.output or ".") / name
        outcome = run_async(
            mirror_async(
                source,
                folder,
                force=args.force,
                retries=args.retries,
                stall_timeout=args.timeout,
                hidden=args.hidden,
                wait_lock=args.wait_lock,
                emit=reporter,
                progress_for=display.for_file,
            )
        )
        for result in outcome.results:
            _report(args, source.url, result)
        failures = [(url, exc) for url, exc in outcome.failures]
        failures += [
            (name, ProtocolError(f"refused the listed name {name}")) for name in outcome.refused
        ]
        return failures
    if args.legacy:
        result = run_async(
            download_legacy(
                parse_source(args.source),
                path or "",
                args.output,
                force=args.force,
                stall_timeout=args.timeout,
                emit=reporter,
            )
        )
    else:
        result = run_async(
            download_async(
                source,
                args.output,
                resume=not args.no_resume,
                progress=display.for_file(source.name),
                retries=args.retries,
                force=args.force,
                stall_timeout=args.timeout,
                wait_lock=args.wait_lock,
                emit=reporter,
            )
        )
    _report(args, source.url, result)
    return []


def _report(args: argparse.Namespace, url: str, result: object) -> None:
    """The closing line for one download (JSON with --json: exact bytes)."""
    from pigeon.aio.get import DownloadResult
    from pigeon.proto.text import format_size
    from pigeon.ui.report import json_line

    assert isinstance(result, DownloadResult)
    streamed = "stdout" if args.output in (None, "-") else str(args.output)
    where = str(result.path) if result.path else streamed
    if args.json:
        print(
            json_line(
                {
                    "type": "result",
                    "url": url,
                    "path": where,
                    "bytes": result.bytes,
                    "sha256": result.digest,
                    "resumed_from": result.resumed_from,
                    "verified": result.verified,
                }
            )
        )
    elif not args.quiet and not (args.output == "-" and sys.stdout.isatty()):
        # (the body just went to this terminal, maybe without a final newline: nothing after)
        check = "sha256 verified" if result.verified else "not verified: no digest offered"
        print(f"{where}: {format_size(result.bytes)}, {check}", file=sys.stderr)


def _ask() -> tuple[str, list[str]]:
    """The tutorial client's questions (terminal only): the server, as a URL, HOST:PORT,
    [V6]:PORT or a HOST (then its port is asked), and the file name unless a URL named it."""
    from pigeon.cli.common import stdin_is_terminal
    from pigeon.errors import InvalidAddress, UsageError
    from pigeon.proto.address import (
        format_endpoint,
        parse_endpoint,
        parse_host,
        parse_port,
    )
    from pigeon.proto.http.source import is_folder_target, parse_source

    if not stdin_is_terminal():
        raise UsageError("SOURCE is missing (it is only asked for on a terminal)")
    try:
        server = input("server address: ").strip()
        if "://" in server or "/" in server:  # a URL (or HOST:PORT/path): it may name the file
            if not is_folder_target(parse_source(server).target):
                return server, []
            source = server
        else:
            try:
                source = str(parse_endpoint(server, default_port=None))
            except InvalidAddress:  # no port in it (any other fault is parse_host's to say)
                host = parse_host(server)
                port = parse_port(input("server port [7890]: ").strip() or "7890")
                source = format_endpoint(host, port)
        name = input("file name: ").strip()
    except EOFError:
        raise UsageError("no answer: SOURCE is missing") from None
    if not name:
        raise UsageError("no file name given")
    return source, [name]
