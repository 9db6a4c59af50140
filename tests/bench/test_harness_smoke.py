"""The benchmark harness still runs: a smoke run, tiny sizes, one repetition, no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_bench_writes_report_and_raw_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "startup",
            "chat",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Targets" in report and "pigeon --version vs python -c pass" in report
    raw = json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8"))
    subjects = {m["subject"] for m in raw["measures"]}
    assert {"python -c pass", "pigeon --version"} <= subjects
    chat = [m for m in raw["measures"] if m["scenario"] == "chat"]
    assert all(m["values"] and m["values"][0] > 0 for m in chat)
    assert {t["scenario"] for t in raw["targets"]} == {"startup", "chat"}
