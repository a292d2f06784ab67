#!/usr/bin/env python3
"""Score `fmnist live` frame by frame on videos with a truth track (scripts/scene_sequences.py).

    .venv/bin/python scripts/score_live.py /tmp/seq/table.avi /tmp/seq/drift.avi [--model edge] [--settle 8] \
        [--realtime]

Runs `fmnist live --source VIDEO --no-display --json` (with --realtime, played at its fps as a camera is, the
segmentation off the frame path) and, over the frames that are not within --settle frames of a
change of scene (a new product, or the table empty again), counts:
- right: a product's frame with its label;
- sure-but-wrong: a product's frame with another label, or an empty frame with any label;
- "not sure" on the empty frames;
and the per-frame time (`ms`, preprocessing and inference) at p50 and p99.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from fmnist.core.meta import CLASS_NAMES
from fmnist.runtime.decision import NOT_SURE


def answers(video: Path, model: str | None, realtime: bool) -> list[dict]:
    command = [sys.executable, "-m", "fmnist", "live", "--source", str(video), "--no-display", "--json",
               *(["--model", model] if model else []), *(["--realtime"] if realtime else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def settled(truth: list[int | None], settle: int) -> np.ndarray:
    """(frames,) bool: at least `settle` frames since the scene last changed."""
    keep, since = np.zeros(len(truth), bool), 0
    for i in range(len(truth)):
        since = since + 1 if i and truth[i] == truth[i - 1] else 0
        keep[i] = since >= settle
    return keep


def score(video: Path, model: str | None, settle: int, realtime: bool = False) -> dict[str, float]:
    truth = json.loads(video.with_suffix(".truth.json").read_text())
    rows, keep = answers(video, model, realtime), settled(truth, settle)
    right = wrong = unsure_empty = products = empties = 0
    for row in rows:
        frame = row["source_frame"]
        if frame >= len(truth) or not keep[frame]:
            continue
        expected, label = truth[frame], row["label"]
        products, empties = products + (expected is not None), empties + (expected is None)
        right += expected is not None and label == CLASS_NAMES[expected]
        wrong += label != NOT_SURE and (expected is None or label != CLASS_NAMES[expected])
        unsure_empty += expected is None and label == NOT_SURE
    ms = np.array([row["ms"] for row in rows], float)
    return {"frames": len(rows), "right": right / max(1, products),
            "sure_but_wrong": wrong / max(1, products + empties), "unsure_on_empty": unsure_empty / max(1, empties),
            "ms_p50": float(np.percentile(ms, 50)), "ms_p99": float(np.percentile(ms, 99))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path, nargs="+")
    parser.add_argument("--model", default=None)
    parser.add_argument("--settle", type=int, default=8)
    parser.add_argument("--realtime", action="store_true", help="play each video at its fps, as a camera")
    args = parser.parse_args()
    for video in args.videos:
        s = score(video, args.model, args.settle, args.realtime)
        print(f"{video.name} ({args.model or 'photo'}): {s['frames']} frames, right {s['right']:.1%}, "
              f"sure-but-wrong {s['sure_but_wrong']:.1%}, 'not sure' on empty {s['unsure_on_empty']:.1%}, "
              f"ms p50 {s['ms_p50']:.1f} p99 {s['ms_p99']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
