"""Open-ended fuzzing of one parser with atheris (not in CI): python fuzz/run.py TARGET [args].

Install once: pip install atheris. TARGET is one of the names in fuzz/targets.py; the other
arguments go to libFuzzer (e.g. -max_total_time=600, a corpus folder). A crash is a bug:
libFuzzer writes the input that caused it to crash-<hash> in the current folder.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    try:
        atheris = importlib.import_module("atheris")
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris")
    with atheris.instrument_imports():  # coverage feedback for pigeon's parsers
        from fuzz.targets import TARGETS

    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(
            f"usage: python fuzz/run.py TARGET [libFuzzer args]; targets: {', '.join(TARGETS)}"
        )
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
