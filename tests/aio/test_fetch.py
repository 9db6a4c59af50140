"""aio.fetch: the one download-into-.part path, driven by scripted origins (no sockets): what
lands under the final name, what stays in the .part and its sidecar, and which error says so."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pigeon.aio.bulk import Consume
from pigeon.aio.fetch import SIDECAR_FROM, Landing, Received, fetch_into_part, retrying
from pigeon.errors import (
    ConnectionLost,
    ConnectionRefused,
    DestinationExists,
    IntegrityError,
    ProtocolError,
    TimedOut,
)
from pigeon.events import DownloadResult
from pigeon.fs.partfile import PartFile
from pigeon.proto.http.fetch import PartState

FILE = bytes(range(256)) * 40  # 10,240 bytes


@dataclass
class Script:
    """What the scripted peer does with one request."""

    cut_after: int | None = None  # bytes sent before the connection is lost
    extra: bool = False  # more follows the announced length
    digest: bytes | None = None  # announced before the body
    trailer: bytes | None = None  # announced after it
    resumable: bool = True  # the reply has a sidecar record
    grant_resume: bool = True
    stall: bool = False
    framing_error: bool = False
    crash: bool = False  # the process dies mid-body (nothing of ours runs after)
    cancelled: bool = False  # the task is cancelled mid-body (Ctrl-C)


@dataclass
class FakeReply:
    data: bytes
    offset: int
    script: Script
    url: str
    total: int | None
    finished: list[bool] = field(default_factory=list)
    restart: str | None = None
    modified: float | None = 1_000_000.0

    @property
    def length(self) -> int | None:
        return None if self.total is None else self.total - self.offset

    @property
    def record(self) -> PartState | None:
        return PartState(self.url, '"v1"', self.total) if self.script.resumable else None

    @property
    def expected(self) -> bytes | None:
        return self.script.digest

    async def receive(self, stages: Sequence[Consume], progress: Callable[[int], None]) -> Received:
        body = self.data[self.offset :]
        if self.script.cut_after is not None:
            body = body[: self.script.cut_after]
        for stage in stages:
            stage(memoryview(body))
        progress(len(body))
        if self.script.stall:
            raise TimedOut("f: the server sent nothing for 1s")
        if self.script.crash:
            raise SystemExit(9)
        if self.script.cancelled:
            raise asyncio.CancelledError
        if self.script.framing_error:
            raise ProtocolError("f: bad answer from the server (broken chunk)")
        return Received(len(body), self.script.extra, self.script.trailer)

    def finish(self, *, ok: bool) -> None:
        self.finished.append(ok)


class FakeOrigin:
    who = "the server"
    label = "http://h/f"
    url = "http://h/f"

    def __init__(self, scripts: list[Script], data: bytes = FILE) -> None:
        self.scripts = scripts
        self.data = data
        self.asked: list[int] = []
        self.replies: list[FakeReply] = []

    async def ask(self, have: int, saved: PartState | None) -> FakeReply:
        script = self.scripts.pop(0)
        restart = None
        if have and not script.grant_resume:
            restart = "the file changed on the server; starting over"
        if not script.grant_resume or saved is None:
            have = 0
        self.asked.append(have)
        reply = FakeReply(self.data, have, script, self.url, len(self.data), restart=restart)
        self.replies.append(reply)
        return reply


def landing(
    final: Path, notices: list[str], *, force: bool = False, replace_hint: str = "use --force"
) -> Landing:
    return Landing(final, None, notices.append, force=force, replace_hint=replace_hint)


def run(origin: FakeOrigin, into: Landing, *, resume: bool = True) -> DownloadResult:
    return asyncio.run(fetch_into_part(origin, into, resume=resume))


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_a_whole_body_lands_under_the_final_name_verified(tmp_path: Path) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(digest=sha(FILE))])
    result = run(origin, landing(final, []))
    assert final.read_bytes() == FILE and result.verified and result.bytes == len(FILE)
    assert not list(tmp_path.glob("*.part*"))
    assert origin.replies[0].finished == [True]  # the connection may serve again


def test_a_trailer_digest_verifies_like_a_header(tmp_path: Path) -> None:
    final = tmp_path / "f"
    result = run(FakeOrigin([Script(trailer=sha(FILE))]), landing(final, []))
    assert result.verified and final.read_bytes() == FILE


@pytest.mark.parametrize("where", ["header", "trailer"])
def test_a_wrong_digest_keeps_nothing(tmp_path: Path, where: str) -> None:
    final = tmp_path / "f"
    wrong = sha(b"other")
    script = Script(digest=wrong) if where == "header" else Script(trailer=wrong)
    with pytest.raises(IntegrityError, match="SHA-256 mismatch: the download is corrupt and was"):
        run(FakeOrigin([script]), landing(final, []))
    assert not final.exists() and not list(tmp_path.glob("*.part*"))


def test_more_than_announced_keeps_nothing(tmp_path: Path) -> None:
    final = tmp_path / "f"
    with pytest.raises(IntegrityError, match=r"sent more than the 10,240 bytes it announced"):
        run(FakeOrigin([Script(extra=True)]), landing(final, []))
    assert not final.exists() and not list(tmp_path.glob("*.part*"))


def test_a_cut_leaves_the_part_and_its_sidecar_and_the_next_attempt_resumes(
    tmp_path: Path,
) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(cut_after=4000), Script(digest=sha(FILE))])
    with pytest.raises(ConnectionLost, match="connection lost after 4,000 of 10,240 bytes"):
        run(origin, landing(final, []))
    assert not final.exists()
    assert (tmp_path / "f.part").read_bytes() == FILE[:4000]
    # a small body gets its sidecar only when cut, so a cut small file resumes too
    saved = json.loads((tmp_path / "f.part.json").read_text())
    assert saved["url"] == origin.url and saved["size"] == len(FILE)
    notices: list[str] = []
    result = run(origin, landing(final, notices))
    assert origin.asked == [0, 4000] and result.resumed_from == 4000 and result.verified
    assert final.read_bytes() == FILE and "resuming f from byte 4000" in notices


def test_a_part_as_long_as_the_file_keeps_all_but_its_last_byte(tmp_path: Path) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(cut_after=4000), Script(digest=sha(FILE))])
    with pytest.raises(ConnectionLost):
        run(origin, landing(final, []))
    (tmp_path / "f.part").write_bytes(FILE)  # stopped between the last write and the rename
    run(origin, landing(final, []))
    assert origin.asked[-1] == len(FILE) - 1 and final.read_bytes() == FILE


def test_a_resume_refused_starts_over_and_says_why(tmp_path: Path) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(cut_after=4000), Script(grant_resume=False)])
    with pytest.raises(ConnectionLost):
        run(origin, landing(final, []))
    (tmp_path / "f.part.json").write_text(
        json.dumps({"url": origin.url, "etag": '"old"', "size": len(FILE)})
    )
    notices: list[str] = []
    result = run(origin, landing(final, notices))
    assert origin.asked == [0, 0] and result.resumed_from == 0 and final.read_bytes() == FILE
    assert f"{origin.url}: the file changed on the server; starting over" in notices


def test_a_restart_drops_the_sidecar_of_the_bytes_it_drops(tmp_path: Path) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(cut_after=4000), Script(grant_resume=False, crash=True)])
    with pytest.raises(ConnectionLost):
        run(origin, landing(final, []))
    assert (tmp_path / "f.part.json").exists()
    with pytest.raises(SystemExit):
        run(origin, landing(final, []))
    # killed while the new version's bytes arrive: no sidecar may vouch for them as the old
    assert not (tmp_path / "f.part.json").exists()


def test_a_resume_never_replaces_a_different_file_under_the_final_name(tmp_path: Path) -> None:
    final = tmp_path / "f"
    origin = FakeOrigin([Script(cut_after=4000), Script(), Script()])
    with pytest.raises(ConnectionLost):
        run(origin, landing(final, []))
    final.write_bytes(b"precious other file")  # made meanwhile, by someone else
    with pytest.raises(DestinationExists, match="exists and differs"):
        run(origin, landing(final, []))
    assert final.read_bytes() == b"precious other file"
    assert origin.asked == [0, 4000]
    final.write_bytes(FILE)  # the very file: kept, and said so
    (tmp_path / "f.part").write_bytes(FILE[:4000])
    (tmp_path / "f.part.json").write_text(
        json.dumps({"url": origin.url, "etag": '"v1"', "size": len(FILE)})
    )
    assert run(origin, landing(final, [])).already_here


def test_broken_framing_keeps_only_what_earlier_answers_brought(tmp_path: Path) -> None:
    final = tmp_path / "f"
    big = bytes(SIDECAR_FROM + 10_000)
    origin = FakeOrigin(
        [Script(cut_after=3000), Script(framing_error=True, cut_after=5000)], data=big
    )
    with pytest.raises(ConnectionLost):
        run(origin, landing(final, []))
    with pytest.raises(ProtocolError):
        run(origin, landing(final, []))
    assert (tmp_path / "f.part").stat().st_size == 3000  # the second answer's bytes cut off


def test_a_body_that_cannot_resume_is_not_kept_when_cut(tmp_path: Path) -> None:
    final = tmp_path / "f"
    with pytest.raises(TimedOut):
        run(FakeOrigin([Script(stall=True, resumable=False, cut_after=10)]), landing(final, []))
    assert not list(tmp_path.iterdir())


def test_a_small_body_cut_by_ctrl_c_keeps_what_it_needs_to_resume(tmp_path: Path) -> None:
    final = tmp_path / "f"
    with pytest.raises(asyncio.CancelledError):
        run(FakeOrigin([Script(cancelled=True, cut_after=4000)]), landing(final, []))
    part = PartFile(final)
    assert part.part.read_bytes() == FILE[:4000] and not final.exists()
    assert part.resumable(FakeOrigin.url) is not None  # the sidecar names the version
    origin = FakeOrigin([Script(digest=sha(FILE))])
    result = run(origin, landing(final, []))
    assert origin.asked == [4000] and result.resumed_from == 4000 and result.verified
    assert final.read_bytes() == FILE and not list(tmp_path.glob("*.part*"))


def test_an_identical_file_already_there_is_kept_and_said(tmp_path: Path) -> None:
    final = tmp_path / "f"
    final.write_bytes(FILE)
    before = final.stat().st_mtime_ns
    notices: list[str] = []
    origin = FakeOrigin([Script(digest=sha(FILE))])
    result = run(origin, landing(final, notices))
    assert result.already_here and final.stat().st_mtime_ns == before
    assert origin.replies[0].finished[0] is False  # its body was not read: not reused
    assert notices == []  # the result's own line says it: one line, not two


def test_without_a_digest_a_file_already_there_is_compared_with_what_arrives(
    tmp_path: Path,
) -> None:
    final = tmp_path / "f"
    final.write_bytes(FILE)
    assert run(FakeOrigin([Script()]), landing(final, [])).already_here
    different = bytes(len(FILE))  # same size, other bytes: a size check alone would say "here"
    final.write_bytes(different)
    with pytest.raises(DestinationExists, match="exists and differs; choose another folder"):
        run(FakeOrigin([Script()]), landing(final, [], replace_hint="choose another folder"))
    assert final.read_bytes() == different and not list(tmp_path.glob("*.part*"))


def test_force_replaces_a_different_file(tmp_path: Path) -> None:
    final = tmp_path / "f"
    final.write_bytes(b"old")
    run(FakeOrigin([Script()]), landing(final, [], force=True))
    assert final.read_bytes() == FILE


def test_retrying_backs_off_and_a_first_refusal_is_final() -> None:
    told: list[str] = []
    calls: list[int] = []

    async def flaky(tries: int) -> str:
        calls.append(tries)
        if tries < 2:
            raise ConnectionLost("x: connection lost")
        return "done"

    async def refused(tries: int) -> str:
        raise ConnectionRefused("x: connection refused")

    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    assert asyncio.run(retrying(flaky, retries=3, tell=told.append, pause=pause)) == "done"
    assert calls == [0, 1, 2] and pauses == [0.5, 1.0]
    assert told[0].endswith("retrying in 0.5s (1/3)")
    assert told[1].endswith("retrying in 1s (2/3)")
    with pytest.raises(ConnectionRefused):
        asyncio.run(retrying(refused, retries=3, tell=told.append, pause=pause))
    assert len(told) == 2
    with pytest.raises(ConnectionLost):
        asyncio.run(retrying(flaky, retries=3, tell=told.append, once=True, pause=pause))
