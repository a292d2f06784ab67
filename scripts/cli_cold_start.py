#!/usr/bin/env python3
"""Whole-process wall time of `fmnist classify examples/photos/pants.jpg` (and `fmnist --help`): N runs, median.

    .venv/bin/python scripts/cli_cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FMNIST = Path(sys.executable).parent / "fmnist"


def wall(command: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for command in ([str(FMNIST), "classify", "examples/photos/pants.jpg"], [str(FMNIST), "--help"],
                    [sys.executable, "-c", "import onnxruntime, cv2"]):
        times = wall(command, args.runs)
        shown = " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))
        print(f"{shown}: median {statistics.median(times) * 1000:.0f} ms over {args.runs} runs "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")


if __name__ == "__main__":
    main()
