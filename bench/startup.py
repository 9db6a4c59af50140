"""Start-up time: median of ``pigeon --version`` against ``python -c pass`` (run, not a test).

Usage: python bench/startup.py [RUNS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], runs: int) -> float:
    """Median wall time of ``runs`` executions of ``argv``."""
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    pigeon = shutil.which("pigeon") or sys.exit("pigeon is not on PATH (run make run first)")
    bare = median_seconds([sys.executable, "-c", "pass"], runs)
    version = median_seconds([pigeon, "--version"], runs)
    helptext = median_seconds([pigeon, "--help"], runs)
    print(f"python -c pass    {bare * 1000:7.1f} ms")
    print(f"pigeon --version  {version * 1000:7.1f} ms  ({version / bare:.2f}x)")
    print(f"pigeon --help     {helptext * 1000:7.1f} ms  ({helptext / bare:.2f}x)")


if __name__ == "__main__":
    main()
