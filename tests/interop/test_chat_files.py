"""Chat attachments between two pigeon chat peers on loopback: files, folders, a 1 GiB sparse
file, resume after a cut, and refusal of everything that was not offered."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tests.chat_helpers import chat_peer, events, of_type, say, udp_port, wait_events
from tests.faults import cutting_proxy, tcp_server
from tests.helpers import run_pigeon, wait_bound
from tests.interop.serve_fixtures import sha256
from tests.udp_faults import udp_relay


def make_tree(root: Path) -> Path:
    top = root / "相册 album"
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty-dir").mkdir()
    (top / "a.txt").write_text("hello\n")
    (top / "empty.txt").write_bytes(b"")
    (top / "sub" / "名字:有冒号.bin").write_bytes(os.urandom(300_000))
    (top / "sub" / "deeper" / "z.bin").write_bytes(os.urandom(5_000_000))
    os.utime(top / "a.txt", (1_600_000_000, 1_600_000_000))
    return top


def tree_digest(top: Path) -> dict[str, str]:
    return {
        str(p.relative_to(top)): ("dir" if p.is_dir() else sha256(p))
        for p in sorted(top.rglob("*"))
    }


def offer_and_fetch(
    tmp_path: Path, *paths: Path, extra_b: list[str] | None = None
) -> tuple[Path, set[str]]:
    dest = tmp_path / "received"
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pb, "bob", [f"127.0.0.1:{pa}"], extra_b or []) as bob,
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, "/send " + " ".join(f"'{p}'" for p in paths))
        [offer] = wait_events(bob, of_type("offer", incoming=True))
        listed = offer["files"]
        assert isinstance(listed, list)
        assert [f["name"] for f in listed] == [p.name for p in paths]
        say(bob, f"/get {offer['index']} {dest}")
        for path in paths:  # folders also report each file inside; wait for the tops
            wait_events(bob, of_type("transfer", state="received", file=path.name), timeout=120)
        notes = [e for e in events(bob) if e.get("type") == "transfer"]
        received = {str(e["file"]) for e in notes if e["state"] == "received"}
        assert {e["peer"] for e in notes} == {"alice"}  # both sides name the other
        # (the sender's lines said the receiver's address, where the receiver's said a name)
        wait_events(alice, of_type("transfer", state="sent", peer="bob"), count=len(paths))
        assert {e["peer"] for e in events(alice) if e.get("type") == "transfer"} == {"bob"}
    return dest, received


def test_a_file_and_a_folder_tree_arrive_identical_with_mtimes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    top = make_tree(src)
    single = src / "报告 final.txt"
    single.write_text("单个文件\n")
    dest, received = offer_and_fetch(tmp_path, single, top)
    assert (dest / single.name).read_text() == "单个文件\n"
    assert tree_digest(dest / top.name) == tree_digest(top)
    inside = {
        "/".join((top.name, *p.relative_to(top).parts)) for p in top.rglob("*") if p.is_file()
    }
    assert inside <= received  # one completion line per file of the folder
    assert (dest / top.name / "a.txt").stat().st_mtime == 1_600_000_000
    assert (dest / single.name).stat().st_mtime == int(single.stat().st_mtime)
    assert not list(dest.rglob("*.part*"))


def test_a_1_gib_sparse_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = src / "sparse.img"
    with big.open("wb") as out:
        out.truncate(1 << 30)
        out.seek(123_456_789)
        out.write(b"a needle in the hole")
    dest, _received = offer_and_fetch(tmp_path, big)
    got = dest / big.name
    assert got.stat().st_size == 1 << 30
    assert sha256(got) == sha256(big)


def test_resume_after_the_tcp_connection_is_cut(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    payload = src / "cut.bin"
    payload.write_bytes(os.urandom(10 << 20))
    dest = tmp_path / "received"
    pa, pb = udp_port(), udp_port()
    # bob reaches alice through a UDP relay; the relay's port number leads, over TCP, to a
    # proxy that cuts every connection after 4 MiB: the download needs three connections.
    with (
        udp_relay(("127.0.0.1", pa), ("127.0.0.1", pb), seed=7) as relay,
        tcp_server(cutting_proxy(pa, cut_every=4 << 20), port=relay.for_b),
        chat_peer(pa, "alice", [f"127.0.0.1:{relay.for_a}"]) as alice,
        chat_peer(pb, "bob", [f"127.0.0.1:{relay.for_b}"]) as bob,
    ):
        say(alice, f"/send {payload}")
        [offer] = wait_events(bob, of_type("offer", incoming=True))
        say(bob, f"/get {offer['index']} {dest}")
        wait_events(bob, of_type("transfer", state="received"), timeout=60)
        resumed = wait_events(
            bob,
            lambda e: e.get("type") == "transfer" and "resuming" in str(e.get("detail")),
            count=2,
        )
        assert all(0 < int(str(e["bytes"])) < 10 << 20 for e in resumed)
        sends = wait_events(alice, of_type("transfer", state="sending"), count=3)
        assert [int(str(e["bytes"])) for e in sends] == [0, 4 << 20, 8 << 20]  # offsets
    assert sha256(dest / "cut.bin") == sha256(payload)


def _request(port: int, packet: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(
        ("127.0.0.1", port), timeout=5, source_address=(source, 0)
    ) as sock:
        sock.sendall(packet)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got


def test_requests_for_what_was_not_offered_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not offered")
    offered = tmp_path / "offered.txt"
    offered.write_text("offered")
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob,
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, f"/send {offered}")
        [offer] = wait_events(bob, of_type("offer", incoming=True))
        sent = wait_events(alice, of_type("sent"))
        assert sent
        wait_bound(pa, socket.SOCK_STREAM)
        # find the offer's packet number the way a client would: from the UDP packet bob got
        packet_no = _offer_packet_number(alice)
        good = b"1_t:1:eve:h:96:%x:0:0" % packet_no
        assert _request(pa, good) == b"offered"  # the capability works
        refusals = {
            "unknown packet": b"1_t:2:eve:h:96:%x:0:0" % (packet_no + 12345),
            "unknown file id": b"1_t:3:eve:h:96:%x:7:0" % packet_no,
            "file asked as folder": b"1_t:4:eve:h:98:%x:0" % packet_no,
            "garbage numbers": b"1_t:5:eve:h:96:zz:yy:0",
            "http on the chat port": b"GET /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n",
            "tutorial protocol": str(secret).encode(),
        }
        for why, packet in refusals.items():
            assert _request(pa, packet) == b"", why
        assert _request(pa, good, source="127.0.0.2") == b""  # offered to 127.0.0.1 only
        say(alice, f"/cancel {offer['index']}")
        wait_events(
            alice, lambda e: e.get("type") == "notice" and "withdrawn" in str(e.get("text"))
        )
        wait_events(bob, lambda e: e.get("type") == "notice" and "withdrew" in str(e.get("text")))
        assert _request(pa, b"1_t:6:eve:h:96:%x:0:0" % packet_no) == b""  # withdrawn
        # five refusals above (the HTTP and tutorial requests are not notes), then the withdrawn
        refused = wait_events(alice, of_type("transfer", state="refused"), count=6)
        assert any("withdrawn" in str(e["detail"]) for e in refused)


def _offer_packet_number(alice: object) -> int:
    from tests.chat_helpers import events

    [sent] = [e for e in events(alice) if e.get("type") == "sent"]  # type: ignore[arg-type]
    return int(str(sent["packet"]))


def test_send_file_one_shot_waits_until_fetched(tmp_path: Path) -> None:
    doc = tmp_path / "doc.bin"
    doc.write_bytes(os.urandom(2 << 20))
    dest = tmp_path / "in"
    pb = udp_port()
    with chat_peer(pb, "bob") as bob:
        import subprocess

        from tests.helpers import PIGEON

        sender = subprocess.Popen(
            [
                *PIGEON,
                "send",
                "--no-broadcast",
                "--port",
                "0",
                f"127.0.0.1:{pb}",
                "--file",
                str(doc),
                "--timeout",
                "30",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        [offer] = wait_events(bob, of_type("offer", incoming=True))
        time.sleep(0.2)
        assert sender.poll() is None  # still waiting for the download
        say(bob, f"/get {offer['index']} {dest}")
        _out, err = sender.communicate(timeout=30)
        assert sender.returncode == 0, err
        # The sender is done once every byte is sent; the receiver may still be committing.
        wait_events(bob, of_type("transfer", state="received"), timeout=30)
    assert sha256(dest / "doc.bin") == sha256(doc)


def test_send_file_declined_or_not_fetched_is_not_delivered(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    pb = udp_port()
    with chat_peer(pb, "bob"):
        result = run_pigeon(
            [
                "send",
                "--no-broadcast",
                "--port",
                "0",
                f"127.0.0.1:{pb}",
                "--file",
                str(doc),
                "--timeout",
                "1",
            ]
        )
    assert result.returncode == 12
    assert b"not fetched within 1 s: doc.txt (the offer was withdrawn)" in result.stderr
    missing = run_pigeon(
        [
            "send",
            "--no-broadcast",
            "--port",
            "0",
            f"127.0.0.1:{pb}",
            "--file",
            str(tmp_path / "nope"),
        ]
    )
    assert missing.returncode == 2
    assert b"cannot offer" in missing.stderr and b"Traceback" not in missing.stderr


def test_requests_as_iptux_and_feiq_write_them_are_served(tmp_path: Path) -> None:
    """iptux sends GETFILEDATA without FILEATTACHOPT and reads file ids as decimal; others
    set FILEATTACHOPT and write ids in hex. Both readings must reach the right file."""
    names = [tmp_path / f"f{i:02d}.txt" for i in range(12)]
    for i, path in enumerate(names):
        path.write_text(f"content {i}\n")
    pa, pb = udp_port(), udp_port()
    with (
        chat_peer(pb, "bob", [f"127.0.0.1:{pa}"]) as bob,
        chat_peer(pa, "alice", [f"127.0.0.1:{pb}"]) as alice,
    ):
        wait_events(alice, lambda e: e.get("type") == "peer" and e["peer"]["name"] == "bob")  # type: ignore[index]
        say(alice, "/send " + " ".join(str(p) for p in names))
        [offer] = wait_events(bob, of_type("offer", incoming=True))
        listed = offer["files"]
        assert isinstance(listed, list) and len(listed) == 12
        packet_no = _offer_packet_number(alice)
        iptux = b"1_iptux 0.8.3:9:root:vm:96:%x:10:0" % packet_no  # decimal 10, no option
        assert _request(pa, iptux) == b"content 10\n"
        hexed = b"1_lbt6_0#128#0:9:f:PC:%d:%x:b:0" % (0x60 | 0x200000, packet_no)  # hex b = 11
        assert _request(pa, hexed) == b"content 11\n"
        resumed = b"1_iptux 0.8.3:10:root:vm:96:%x:3:8" % packet_no  # offset 8 (hex)
        assert _request(pa, resumed) == b"3\n"
