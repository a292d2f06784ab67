"""An archive of phone-size photos through `fmnist classify`, side by side in one run (issue 43's goal figures).

Makes N photos of 1000x1333 (the given photos upscaled, each shifted, flipped and textured differently so that no
two files are alike and each decodes like a camera's JPEG) in a temporary folder, then times:

  decode     cv2.imdecode at full size on one core, every file read and decoded (the yardstick)
  before     `fmnist classify DIR --json` at git revision --before (today's way: one process, full decode)
  one core   `fmnist classify DIR --json --threads 1` (the reduced decode, one process)
  default    `fmnist classify DIR --json` (every core)
  ray        `fmnist classify DIR --ray local` (--ray), and Ray's start-up alone, and with --threads 1

and prints each time, photos a second, and its ratio to the decode; checks that every run gave each photo once and
that the default and Ray gave the same labels.

  .venv/bin/python scripts/archive_bench.py --photos 2000 --ray
  .venv/bin/python scripts/archive_bench.py --photos 2000 --from ~/photos/validation --before 6b24268
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHONE = (1000, 1333)  # width, height
BEFORE = "6b24268"  # the last commit before the reduced decode and the worker processes


def make_photos(source: Path, count: int, folder: Path, seed: int = 0) -> list[Path]:
    """`count` phone-size JPEGs made from the photos under `source`."""
    rng = np.random.default_rng(seed)
    photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    made = []
    for i in range(count):
        image = cv2.imread(str(photos[i % len(photos)]))
        if image.shape[0] < image.shape[1]:
            image = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
        big = cv2.resize(image, (PHONE[0] + 80, PHONE[1] + 80), interpolation=cv2.INTER_CUBIC)
        x, y = rng.integers(0, 80, 2)
        big = big[y : y + PHONE[1], x : x + PHONE[0]]
        if rng.random() < 0.5:
            big = cv2.flip(big, 1)
        grain = rng.normal(0, 2, big.shape[:2])[..., None]  # a sensor's grain: about 300 KB a photo at quality 90
        big = np.clip(big * rng.uniform(0.9, 1.1) + grain, 0, 255).astype(np.uint8)
        path = folder / f"{i:05d}.jpg"
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
        made.append(path)
    return made


def decode_all(paths: list[Path]) -> float:
    """Seconds to read and decode every file at full size, one core."""
    cv2.setNumThreads(1)
    started = time.perf_counter()
    for path in paths:
        if cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR) is None:
            raise SystemExit(f"{path} did not decode")
    return time.perf_counter() - started


def timed(args: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> tuple[float, list[dict]]:
    """Seconds for one fmnist command, and its JSON lines."""
    started = time.perf_counter()
    got = subprocess.run([sys.executable, "-m", "fmnist", *args], capture_output=True, text=True, cwd=cwd,
                         env=env)
    seconds = time.perf_counter() - started
    if got.returncode not in (0, 1):
        raise SystemExit(f"fmnist {' '.join(args)} failed ({got.returncode}): {got.stderr[-2000:]}")
    return seconds, [json.loads(line) for line in got.stdout.splitlines()]


def ray_start() -> float:
    """Seconds for Ray to start on this machine and stop, as --ray local does (a process of its own)."""
    code = ("import logging, time; t = time.perf_counter(); import ray; "
            "ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=256 * 2**20, "
            "logging_level=logging.ERROR, log_to_driver=False); print(time.perf_counter() - t); ray.shutdown()")
    got = subprocess.run([sys.executable, "-c", "import os; " + code], capture_output=True, text=True, check=True)
    return float(got.stdout.split()[-1])


def ray_fixed_cost(photo: Path, tmp: Path) -> float:
    """What --ray local adds whatever the number of photos: its time on one photo less the default's. Beside
    ray.init it holds Ray Data's own actors, the actors' start-up (each imports Ray Data) and ray.shutdown."""
    one = tmp / "one"
    one.mkdir()
    shutil.copy(photo, one)
    return timed(["classify", str(one), "--ray", "local"])[0] - timed(["classify", str(one), "--json"])[0]


def before_tree(rev: str, folder: Path) -> Path:
    """A checkout of `rev` (its fmnist and its shipped models) to run today's way from."""
    tree = folder / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
    return tree


def check_once(name: str, lines: list[dict], paths: list[Path]) -> None:
    inputs = [Path(line["input"]).name for line in lines]
    if sorted(inputs) != [p.name for p in paths]:
        raise SystemExit(f"{name}: {len(inputs)} lines for {len(paths)} photos, or some twice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--from", dest="source", type=Path, default=ROOT / "examples" / "photos")
    parser.add_argument("--before", default=BEFORE, help="the revision of today's way ('' to leave it out)")
    parser.add_argument("--ray", action="store_true", help="also time --ray local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        paths = make_photos(args.source, args.photos, folder)
        rows: list[tuple[str, float]] = [("decode (cv2.imdecode, full size, one core)", decode_all(paths))]
        runs: dict[str, list[dict]] = {}
        if args.before:
            tree = before_tree(args.before, Path(tmp))
            try:
                seconds, runs["before"] = timed(["classify", str(folder), "--json"], tree,
                                                {**os.environ, "PYTHONPATH": str(tree)})
                rows.append((f"before ({args.before}: one process, full decode)", seconds))
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        for name, extra in (("one core (--threads 1)", ["--threads", "1"]), ("default (every core)", [])):
            seconds, runs[name] = timed(["classify", str(folder), "--json", *extra])
            rows.append((name, seconds))
        if args.ray:
            rows.append(("Ray's start-up alone", ray_start()))
            rows.append(("Ray's fixed cost (one photo, less the default's)", ray_fixed_cost(paths[0], Path(tmp))))
            for name, extra in (("--ray local --threads 1", ["--threads", "1"]), ("--ray local", [])):
                seconds, runs[name] = timed(["classify", str(folder), "--ray", "local", *extra])
                rows.append((name, seconds))
        report(rows, runs, paths)


def report(rows: list[tuple[str, float]], runs: dict[str, list[dict]], paths: list[Path]) -> None:
    for name, lines in runs.items():
        check_once(name, lines, paths)
    decode = rows[0][1]
    print(f"{len(paths)} photos of {PHONE[0]}x{PHONE[1]}, {os.cpu_count()} cores")
    for name, seconds in rows:
        print(f"  {name:48s} {seconds:7.2f} s  {len(paths) / seconds:7.0f} photos/s  {seconds / decode:5.2f}x decode")
    default = runs.get("default (every core)")
    for name in ("--ray local", "before"):
        if name in runs and default:
            same = sum(a.get("label") == b.get("label") for a, b in zip(default, runs[name], strict=True))
            print(f"  same label as the default: {name} {same} of {len(paths)}")
    times = dict(rows)
    if "--ray local" in times:
        ray = times["--ray local"] - times["Ray's start-up alone"]
        print(f"  --ray local less Ray's start-up: {ray:.2f} s, {ray / times['default (every core)']:.2f}x the default")
        for cost in ("Ray's start-up alone", "Ray's fixed cost (one photo, less the default's)"):
            print(f"  --ray local / (default + {cost}): "
                  f"{times['--ray local'] / (times['default (every core)'] + times[cost]):.2f}x")


if __name__ == "__main__":
    main()
