"""``python -m bench`` (``make bench``): run every scenario, write docs/benchmarks.{md,json,png}.

Usage: python -m bench [--quick] [--runs N] [--only NAME ...] [--out DIR] [--data DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import INSTALL_HINTS, Measure, Target, tools
from bench.report import chart, machine, markdown, raw_json
from bench.scenarios import SCENARIOS, BenchConfig


def _compile_pigeon() -> str:
    """Byte-compile pigeon's modules, as installing a package does.

    An editable install (``make run``) leaves the sources uncompiled, and with
    PYTHONDONTWRITEBYTECODE set (as on the machine these figures come from) every run
    would compile every module again: ~20 ms of each pigeon command's start-up that an
    installed pigeon never pays.
    """
    import compileall

    import pigeon

    folder = Path(pigeon.__file__).parent
    ok = compileall.compile_dir(folder, quiet=1)
    return f"pigeon's bytecode compiled ahead in {folder}" if ok else "compileall failed"


def _settle_memory() -> None:
    """Sync, and (as root) drop the clean page cache, so every scenario starts with free
    memory: on this VM, with the cache full and the kernel reclaiming, creating a small file
    took 3-8 times as long (bench/analysis.md, "Mirror"), whichever tool ran then."""
    os.sync()
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/drop_caches").write_text("1\n", encoding="ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    parser.add_argument("--runs", type=int, help="repetitions per figure (default 5)")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="just these")
    parser.add_argument("--out", default="docs", help="where benchmarks.md/.json/.png go")
    parser.add_argument("--data", help="folder for the test files (default: a temporary one)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite benchmarks.md and the chart from the last benchmarks.json",
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(Path(args.out))
    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    if args.runs:
        from dataclasses import replace

        cfg = replace(cfg, runs=args.runs, large_runs=args.runs)
    ahead = _compile_pigeon()
    print(f"bench: {ahead}", file=sys.stderr)
    avail = tools()
    for name, path in avail.items():
        if not path:
            print(
                f"bench: {name} not found: its comparisons are skipped ({INSTALL_HINTS[name]})",
                file=sys.stderr,
            )
    measures: list[Measure] = []
    targets: list[Target] = []
    skipped: list[str] = []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pigeon-bench-") as tmp:
        root = Path(args.data) if args.data else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # nginx's worker runs as an unprivileged user and must read it
        for name in args.only or list(SCENARIOS):
            _settle_memory()
            began = time.monotonic()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            outcome = SCENARIOS[name](cfg, root, avail)
            measures += outcome.measures
            targets += outcome.targets
            skipped += outcome.skipped
            for m in outcome.measures:
                print(
                    f"  {m.subject}: {m.median:,.1f} {m.unit} "
                    f"(min {m.low:,.1f}, max {m.high:,.1f})",
                    file=sys.stderr,
                )
            print(f"  ({time.monotonic() - began:.0f} s)", file=sys.stderr)
    info = machine()
    png = out / "benchmarks.png"
    has_chart = chart(targets, png)
    if not has_chart:
        skipped.append("chart (pip install 'pigeon-lan[bench]' for matplotlib)")
    analysis_path = Path(__file__).with_name("analysis.md")
    analysis = analysis_path.read_text(encoding="utf-8") if analysis_path.exists() else ""
    (out / "benchmarks.md").write_text(
        markdown(
            info,
            measures,
            targets,
            skipped,
            runs=cfg.runs,
            chart="benchmarks.png" if has_chart else None,
            analysis=analysis,
        ),
        encoding="utf-8",
    )
    (out / "benchmarks.json").write_text(
        raw_json(info, measures, targets, skipped), encoding="utf-8"
    )
    for t in targets:
        state = "met" if t.met else ("not measured" if t.met is None else "NOT met")
        print(f"target: {t.text}: {state}", file=sys.stderr)
    print(
        f"bench: wrote {out / 'benchmarks.md'}, benchmarks.json"
        + (", benchmarks.png" if has_chart else ""),
        file=sys.stderr,
    )
    return 0


def render(out: Path) -> int:
    """Rewrite the report and chart from ``out/benchmarks.json`` (after editing analysis.md)."""
    import json

    raw = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    measures = [Measure(**{k: v for k, v in m.items() if k != "median"}) for m in raw["measures"]]
    targets = [Target(**t) for t in raw["targets"]]
    # The usual repetition count (start-up rows repeat more): the figure the header states.
    runs = statistics.mode(len(m.values) for m in measures) if measures else 0
    has_chart = chart(targets, out / "benchmarks.png")
    analysis_path = Path(__file__).with_name("analysis.md")
    analysis = analysis_path.read_text(encoding="utf-8") if analysis_path.exists() else ""
    skipped = [s for s in raw.get("skipped", [])]
    (out / "benchmarks.md").write_text(
        markdown(
            raw["machine"],
            measures,
            targets,
            skipped,
            runs=runs,
            chart="benchmarks.png" if has_chart else None,
            analysis=analysis,
        ),
        encoding="utf-8",
    )
    print(f"bench: rewrote {out / 'benchmarks.md'} from benchmarks.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
