#!/usr/bin/env python3
"""Per-frame cost, label delay and label age of `fmnist live`, played as a 30 fps camera (`--realtime`), headless,
with a shipped model (`--model`: photo, the default, or edge) on 1 thread, on five synthetic videos:

- products: ten Fashion-MNIST products held 20 frames each in front of a "camera", then 10 blank frames
  (scene changes every 20 frames);
- plain, textured, filled: one scene each (scripts/scene_videos.py), held with sensor noise;
- sliding: a product that moves across the guide box every frame (a scene that never settles).

    .venv/bin/python -m scripts.live_frame_times [--frames 300] [--model edge] [--python PY] [--json]

`--python` runs another fmnist (e.g. an older checkout: `--python 'env PYTHONPATH=/tmp/old .venv/bin/python'`),
so two versions are measured side by side in one session. Per frame: `ms` from `--json` (preprocessing and
inference: where segmentation used to run); p50 and p99 over every frame. Labels (products video): the share of
held frames that are right, all of them and after each product's first 8; the delay in frames until a new
product's label shows; blank frames that are "not sure"; the label age's p50 and p95.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from scripts.product_video import frame as product_frame
from scripts.product_video import write_video
from scripts.scene_videos import FILES, SIZE, noisy_frames, scenes

FPS, HOLD, BLANK = 30.0, 20, 10


def write_scene_videos(folder: Path, frames: int, boot: np.ndarray) -> dict[str, Path]:
    out = {}
    for name, (scene, sigma) in scenes(boot).items():
        path = folder / FILES[name]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
        for image in noisy_frames(scene, sigma, frames):
            writer.write(image)
        writer.release()
        out[path.stem] = path
    still = product_frame(np.random.default_rng(0), boot)
    path = folder / "sliding.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for k in range(frames):
        writer.write(np.roll(still, 9 * k, axis=1))
    writer.release()
    out["sliding"] = path
    return out


def run(python: str, video: Path, model: str) -> list[dict]:
    command = [*shlex.split(python), "-m", "fmnist", "live", "--source", str(video), "--no-display", "--realtime",
               "--threads", "1", "--model", model, "--json"]
    # cwd: the video's folder, so `-m fmnist` finds the installed (or PYTHONPATH's) fmnist, not this checkout's
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=video.parent)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def frame_figures(rows: list[dict]) -> dict[str, float]:
    ms = np.array([r["ms"] for r in rows])
    ages = np.array([r["age_ms"] for r in rows])
    return {"frames": len(rows), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 1),
            "age_p50_ms": round(float(np.percentile(ages, 50)), 1),
            "age_p95_ms": round(float(np.percentile(ages, 95)), 1)}


def label_figures(rows: list[dict], names: list[str]) -> dict[str, float]:
    """Held frames right (all; after each product's first 8), the delay to the right label, blanks not sure."""
    held, late, delays, blank = [], [], [], []
    first_right: dict[int, int] = {}
    for r in rows:
        product, offset = divmod(r["source_frame"], HOLD)
        if product < len(names):
            right = r["label"] == names[product]
            held.append(right)
            if offset >= 8:
                late.append(right)
            if right and product not in first_right:
                first_right[product] = offset
        else:
            blank.append(r["label"] == "not sure")
    delays = sorted(first_right.values())  # frames until the right label, for the products that get it
    return {"held_right": round(float(np.mean(held)), 3), "held_right_after_8": round(float(np.mean(late)), 3),
            "delay_frames": delays, "never_right": [n for p, n in enumerate(names) if p not in first_right],
            "blank_not_sure": round(float(np.mean(blank)), 3) if blank else float("nan")}


def main() -> None:
    from fmnist.core.meta import CLASS_NAMES
    from fmnist.data import fashion

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="frames of each one-scene video")
    parser.add_argument("--python", default=str(Path(".venv/bin/python").absolute()),
                        help="the interpreter (and env) that runs fmnist")
    parser.add_argument("--model", default="photo", help="a shipped model's name or a .onnx file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    test = fashion.load_split("test")
    picks = [int(np.flatnonzero(test.labels == c)[0]) for c in range(10)]
    names = [CLASS_NAMES[test.labels[i]] for i in picks]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        videos = {"products": Path(tmp) / "products.mp4"}
        write_video(videos["products"], test.images[picks], hold=HOLD, blank=BLANK, fps=FPS)
        videos |= write_scene_videos(Path(tmp), args.frames, test.images[0])
        for name, video in videos.items():
            rows = run(args.python, video, args.model)
            report[name] = frame_figures(rows) | (label_figures(rows, names) if name == "products" else {})
            if not args.json:
                print(name, report[name], flush=True)
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
