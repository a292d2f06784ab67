#!/usr/bin/env python3
"""Score `fmnist live` frame by frame on videos with a truth track (scripts/scene_sequences.py).

    .venv/bin/python scripts/score_live.py /tmp/seq/table.avi /tmp/seq/drift.avi [--model edge] [--settle 8]
        [--realtime]

Runs `fmnist live --source VIDEO --no-display --json` (with --realtime, played at its fps as a camera is, the
segmentation off the frame path) and, over the frames that are not within --settle frames of a
change of scene (a new product, or the table empty again), counts:
- right: a product's frame with its label;
- sure-but-wrong: a product's frame with another label, or an empty frame with any label;
- "not sure" on the empty frames;
and the per-frame time (`ms`, preprocessing and inference) at p50 and p99. A missing video or truth track, or a
live that refuses (`--model nosuch`, a video it cannot decode), is one `error:` line, live's own line in it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from fmnist.core.bounded import read_bounded
from fmnist.core.errors import FmnistError, UsageError, escaped, printable
from fmnist.core.meta import CLASS_NAMES
from fmnist.runtime.decision import NOT_SURE

MAX_TRUTH_BYTES = 50_000_000  # a truth track holds a few characters a frame


class LiveFailed(FmnistError):
    """`fmnist live` refused or failed: its own error line, and its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code if exit_code > 0 else 1  # killed by a signal: 1


def answers(video: Path, model: str | None, realtime: bool) -> list[dict]:
    command = [sys.executable, "-m", "fmnist", "live", "--source", str(video), "--no-display", "--json",
               *(["--model", model] if model else []), *(["--realtime"] if realtime else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise LiveFailed(f"fmnist live on {video} failed (exit {done.returncode}): {live_said(done.stderr)}",
                         done.returncode)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise FmnistError(f"fmnist live on {video} answered no frame; play the video to check it holds some")
    return rows


def live_said(stderr: str) -> str:
    """live's own error line (its last `error:` line, else its last line), without the `error: `."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    said = (errors or lines or ["error: it printed nothing"])[-1]
    return said.removeprefix("error:").strip()


def truth_of(video: Path) -> list[int | None]:
    """The video's truth track (VIDEO.truth.json): one class index or null a frame; UsageError if either is missing
    or the track is not one."""
    if not video.is_file():
        raise UsageError(f"{video}: no such video; give videos made by scripts/scene_sequences.py")
    path = video.with_suffix(".truth.json")
    try:
        truth = json.loads(read_bounded(path, MAX_TRUTH_BYTES, "a truth track may take", UsageError,
                                        "give the track scripts/scene_sequences.py wrote"))
    except FileNotFoundError:
        raise UsageError(f"{video}: no truth track {path.name} beside it; give videos made by "
                         "scripts/scene_sequences.py, which writes one beside each") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a truth track ({printable(e, 80)}); write it again with "
                         "scripts/scene_sequences.py") from None
    if not isinstance(truth, list) or not truth or not all(_is_class(t) for t in truth):
        raise UsageError(f"{path}: a truth track is a JSON list of one class index (0-9) or null a frame; write it "
                         "again with scripts/scene_sequences.py")
    return truth


def _is_class(entry: object) -> bool:
    return entry is None or (type(entry) is int and 0 <= entry < len(CLASS_NAMES))


def settled(truth: list[int | None], settle: int) -> np.ndarray:
    """(frames,) bool: at least `settle` frames since the scene last changed."""
    keep, since = np.zeros(len(truth), bool), 0
    for i in range(len(truth)):
        since = since + 1 if i and truth[i] == truth[i - 1] else 0
        keep[i] = since >= settle
    return keep


def score(video: Path, model: str | None, settle: int, realtime: bool = False) -> dict[str, float]:
    truth = truth_of(video)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path, nargs="+")
    parser.add_argument("--model", default=None)
    parser.add_argument("--settle", type=int, default=8)
    parser.add_argument("--realtime", action="store_true", help="play each video at its fps, as a camera")
    args = parser.parse_args(argv)
    try:
        if args.settle < 0:
            raise UsageError(f"--settle {args.settle}: give the frames to skip after a change of scene, 0 or more")
        for video in args.videos:
            report(video, args.model, score(video, args.model, args.settle, args.realtime))
    except FmnistError as e:
        print(f"error: {escaped(e)}", file=sys.stderr)
        return e.exit_code
    return 0


def report(video: Path, model: str | None, s: dict[str, float]) -> None:
    print(f"{video.name} ({model or 'photo'}): {s['frames']} frames, right {s['right']:.1%}, "
          f"sure-but-wrong {s['sure_but_wrong']:.1%}, 'not sure' on empty {s['unsure_on_empty']:.1%}, "
          f"ms p50 {s['ms_p50']:.1f} p99 {s['ms_p99']:.1f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
