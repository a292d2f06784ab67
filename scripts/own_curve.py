#!/usr/bin/env python3
"""Top-1 on held-out photos against the number of photos learned per class: 10, 30, 100 and all.

    .venv/bin/python scripts/own_curve.py TRAIN_DIR VAL_DIR [--out docs/img/own-classes-curve.png]

Each point is `fmnist train-own TRAIN_DIR --photos-val VAL_DIR --per-class N` (the
same recipe, the first N photos of a seeded shuffle of each folder); the plot and a Markdown table follow.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    from fmnist.train.plots import pyplot, save_figure
    from fmnist.train.registry import TRAIN_OWN
    from fmnist.train.run import train

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", type=Path)
    parser.add_argument("val", type=Path)
    parser.add_argument("--sizes", default="10,30,100,0", help="photos per class; 0 means all")
    parser.add_argument("--out", type=Path, default=Path("docs/img/own-classes-curve.png"))
    args = parser.parse_args()
    points = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            given = {"photos": args.train, "out": Path(tmp), "photos_val": args.val, "per_class": size or None}
            card = train(TRAIN_OWN.configure(TRAIN_OWN.default, given, progress=False))
        assert card.photos is not None  # an own-label run always reports on its held-out photos
        points.append({"per_class": size or "all", "n_learn": card.metrics["own_labels"]["n_learn"],
                       "top1": card.heldout_accuracy, "mean_over_folders": card.photos.mean_strict,
                       "seconds": card.train_seconds})
        print(json.dumps(points[-1]), flush=True)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([p["n_learn"] for p in points], [100 * p["top1"] for p in points], "o-")
    for p in points:
        ax.annotate(f"{p['per_class']}/class: {p['top1']:.0%}", (p["n_learn"], 100 * p["top1"]), fontsize=8,
                    xytext=(4, -12), textcoords="offset points")
    ax.set(xscale="log", xlabel="photos learned from (log)", ylabel="top-1 on held-out photos (%)",
           title=f"own labels: learned from {args.train.name}/, judged on {args.val.name}/")
    ax.grid(alpha=0.3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, args.out)
    print("| photos per class | photos learned | top-1 | mean over folders | train s |\n|---:|---:|---:|---:|---:|")
    for p in points:
        print(f"| {p['per_class']} | {p['n_learn']} | {p['top1']:.1%} | {p['mean_over_folders']:.1%} | "
              f"{p['seconds']:.0f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
