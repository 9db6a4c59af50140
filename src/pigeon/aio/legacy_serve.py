"""Serving the tutorial's file protocol: a bare file name in, the file's raw bytes out.

The name may arrive in several segments; it ends at a newline, a pause (``legacy_wait``) or
the end of the stream. A name missing, refused or naming a folder is answered with nothing
but the close, as the tutorial's client expects (it then writes no file). The access log
names each outcome as HTTP would (200, 403, 404, 414...).
"""

from __future__ import annotations

import asyncio
import time

from pigeon.aio.filesend import FileSpan, send_span
from pigeon.aio.serve_io import AccessLog, read_some
from pigeon.config import ServeConfig
from pigeon.fs.root import ConfinedRoot, Directory, NotFound, NotServed
from pigeon.proto.http.respond import Found, outcome_status
from pigeon.proto.remote_names import RefusedName, legacy_name_segments

MAX_NAME = 1024
"""Bytes of a name read at most before it is judged (a longer one is refused)."""


async def serve_legacy(
    cfg: ServeConfig,
    root: ConfinedRoot,
    log: AccessLog,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    peer: str,
    buf: bytes,
) -> None:
    """Answer one tutorial-protocol request whose first bytes are ``buf``."""
    start = time.perf_counter()
    while not buf.endswith(b"\n") and len(buf) <= MAX_NAME:
        try:
            more = await read_some(reader, cfg.legacy_wait)
        except TimeoutError:
            break
        if not more:
            break
        buf += more
    shown = buf[:200].decode("utf-8", "replace")
    try:
        found = root.lookup(legacy_name_segments(buf))
    except RefusedName as exc:
        log(peer, "LEGACY", shown, exc.status, 0, start)
        return  # nothing sent: the tutorial's client then writes no file
    except NotServed as exc:
        missing = Found.MISSING if isinstance(exc, NotFound) else Found.REFUSED
        log(peer, "LEGACY", shown, outcome_status(missing), 0, start)
        return
    if isinstance(found, Directory):
        log(peer, "LEGACY", shown, outcome_status(Found.MISSING), 0, start)
        return
    try:
        span = FileSpan(found, 0, found.st.st_size)
        sent = await send_span(
            writer, span, use_sendfile=cfg.use_sendfile, stall_timeout=cfg.stall_timeout
        )
        log(peer, "LEGACY", shown, 200, sent, start)
    finally:
        found.close()
