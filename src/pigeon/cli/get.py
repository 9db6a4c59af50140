"""``pigeon get``: its arguments, the tutorial client's questions, and one download (or mirror)
per PATH handed to ``aio``; results and failures are shown by ``ui``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from pigeon.aio.get import cut_part, download_async
from pigeon.aio.legacy import download_legacy
from pigeon.cli.common import (
    Interrupted,
    OutputClosed,
    PigeonParser,
    command,
    json_flag,
    positive_seconds,
    stdin_is_terminal,
    summary,
)
from pigeon.errors import InvalidAddress, PigeonError, ProtocolError, UsageError
from pigeon.events import DownloadResult, Notice
from pigeon.proto.address import format_endpoint, parse_endpoint, parse_host, parse_port
from pigeon.proto.http.source import Source, is_folder_target, parse_source
from pigeon.proto.local_names import safe_local_name
from pigeon.ui.errors import show_error
from pigeon.ui.progress import (
    TransferDisplay,
    download_interrupted,
    mirror_done,
    mirror_interrupted,
    show_result,
)
from pigeon.ui.report import Reporter

GET_EXIT_CODES = (0, 1, 2, 3, 5, 6, 7, 9, 11, 13, 14, 15, 16, 17, 18, 19, 130, 141)
"""The exit codes a download can end with (none of sending datagrams or binding ports)."""

Failures = list[tuple[str, PigeonError]]


def register(subparsers: argparse._SubParsersAction[PigeonParser]) -> None:
    """Add ``get``."""
    get = command(
        subparsers,
        "get",
        help_text=summary("get"),
        example="pigeon get 192.168.1.7 notes.txt          # from pigeon serve, port 7890\n"
        "pigeon get [::1]:8000 big.iso -o /tmp/\n"
        "pigeon get 192.168.1.7:8000/docs/notes.txt  # HOST:PORT/PATH\n"
        "pigeon get http://host/file.tar.gz -o - | tar xz",
        handler=run_get,
        codes=GET_EXIT_CODES,
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
    get.add_argument(
        "--timeout", type=positive_seconds, default=30.0, metavar="S", help="default 30"
    )
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
    if args.source is None:
        args.source, args.paths = _ask()
    paths = args.paths or [None]
    _check_arguments(args, paths)
    reporter = Reporter(json_output=args.json, quiet=args.quiet)
    failures: Failures = []
    closing: list[Notice] = []  # said once the progress display is gone (never under it)
    try:
        with TransferDisplay(
            json_output=args.json, quiet=args.quiet, bars=not _body_on_terminal(args)
        ) as display:
            for path in paths:
                try:
                    failures += _get_one(args, path, display, reporter, closing)
                except Interrupted:
                    raise  # Ctrl-C stops the batch, not just this PATH
                except PigeonError as exc:
                    if len(paths) == 1:
                        raise
                    failures.append((path or args.source, exc))
                    show_error(exc)
    finally:  # a finished mirror's line stands, whatever stopped a later PATH
        for note in closing:
            reporter(note)
    if failures:
        raise _summary(failures, len(paths) if not args.recursive else None)
    return 0


def _body_on_terminal(args: argparse.Namespace) -> bool:
    """True when the body goes to this terminal (``-o -`` on a tty): no bars to mix into it,
    as curl turns its meter off, and no closing line after it."""
    return bool(args.output == "-" and sys.stdout.isatty())


def _check_arguments(args: argparse.Namespace, paths: list[str | None]) -> None:
    """Everything that can be wrong with the command line, before any request."""
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
    if (
        several
        and out is not None
        and not _names_folder(out)
        and (Path(out).exists() or not args.recursive)
    ):
        raise UsageError(
            f"-o {out} is not a folder: with several files, -o names a folder (end it with /)"
        )


def _names_folder(out: str) -> bool:
    return out.endswith(("/", os.sep)) or Path(out).is_dir()


def _summary(failures: Failures, total: int | None) -> PigeonError:
    """One line naming every failure; the exit code is the first failure's."""
    names = ", ".join(name for name, _ in failures[:20])
    more = f" and {len(failures) - 20} more" if len(failures) > 20 else ""
    counted = f"{len(failures)} of {total}" if total is not None else str(len(failures))
    error = PigeonError(f"{counted} failed: {names}{more}")
    error.exit_code = failures[0][1].exit_code
    return error


def _get_one(
    args: argparse.Namespace,
    path: str | None,
    display: TransferDisplay,
    reporter: Reporter,
    closing: list[Notice],
) -> Failures:
    """Download one PATH: a file, a folder with -r, or a name with --legacy. Returns the
    failures inside a mirror (a single file raises instead)."""
    source = parse_source(args.source, path)
    if args.recursive:
        return _mirror(args, source, display, reporter, closing)
    if args.legacy:
        result = asyncio.run(
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
        try:
            result = asyncio.run(
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
        except KeyboardInterrupt:
            raise Interrupted(_cut_line(args, source)) from None
    _show(args, source.url, result)
    return []


def _cut_line(args: argparse.Namespace, source: Source) -> str:
    """The line for a download stopped by Ctrl-C: what it kept, and whether the same command
    continues it (``aio.get.cut_part``)."""
    left = cut_part(source, args.output)
    if left is None:
        return "interrupted"
    why = "--no-resume" if args.no_resume else left.starts_over
    return download_interrupted(str(left.path), left.size, why)


def _mirror(
    args: argparse.Namespace,
    source: Source,
    display: TransferDisplay,
    reporter: Reporter,
    closing: list[Notice],
) -> Failures:
    """``-r``: mirror the folder ``source`` names into OUT, under its own name (however it
    was named: ``HOST sub``, ``HOST/sub``, a URL); the root's entries go straight into OUT.
    Returns the files that failed and the listed names refused."""
    # -r alone needs the mirror and an HTML parser: a plain get does not pay for importing them
    from pigeon.aio.mirror import MirrorOutcome, mirror_async

    name = safe_local_name(source.name) if source.name else ""
    dest = Path(args.output or ".") / name
    # each result is shown as its file lands, so a long mirror's output streams (scripts
    # reading --json see every file as it is done)
    outcome = MirrorOutcome(on_result=lambda url, result: _show(args, url, result))

    async def mirror() -> None:
        # the outcome is filled in place, so the task returns nothing: asyncio.run's end
        # formats its main task (checking the SIGINT handler), result and all
        await mirror_async(
            source,
            dest,
            force=args.force,
            retries=args.retries,
            stall_timeout=args.timeout,
            hidden=args.hidden,
            wait_lock=args.wait_lock,
            emit=reporter,
            progress_for=display.for_file,
            outcome=outcome,
        )

    try:
        asyncio.run(mirror())
    except (KeyboardInterrupt, BrokenPipeError) as exc:
        # the files took their final names before the mirror let go, each shown as it did:
        # one line says how many, and that the same command continues (what is complete
        # and identical is skipped). Stdout's reader gone (| head): the exit code says the
        # mirror did not finish
        verified = sum(1 for result in outcome.results if result.verified)
        kept, here = len(outcome.results), outcome.up_to_date
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(mirror_interrupted(kept, verified, here, str(dest))) from None
        line = mirror_interrupted(kept, verified, here, str(dest), why="stopped")
        raise OutputClosed(f"{line} (stdout was closed)") from None
    fetched = [result for result in outcome.results if not result.already_here]
    verified = sum(1 for result in fetched if result.verified)
    identical = len(outcome.results) - len(fetched) + outcome.up_to_date
    closing.append(Notice(mirror_done(len(fetched), verified, identical, str(dest))))
    failures = [(url, exc) for url, exc in outcome.failures]
    failures += [
        (name, ProtocolError(f"refused the listed name {name}")) for name in outcome.refused
    ]
    return failures


def _show(args: argparse.Namespace, url: str, result: DownloadResult) -> None:
    """Hand one finished download to ``ui`` with where it went (``stdout`` when streamed)."""
    streamed = "stdout" if args.output in (None, "-") else str(args.output)
    show_result(
        url,
        str(result.path) if result.path else streamed,
        result,
        json_output=args.json,
        quiet=args.quiet or _body_on_terminal(args),
    )


def _ask() -> tuple[str, list[str]]:
    """The tutorial client's questions (terminal only): the server, as a URL, HOST:PORT,
    [V6]:PORT or a HOST (then its port is asked), and the file name unless a URL named it."""
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
