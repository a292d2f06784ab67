"""The last screen of `make demo`: what the run made, in one place a newcomer can read.

    python scripts/demo_summary.py RUN CNN_RUN BENCH_JSON PHOTO_JSONL EDGE_JSONL

RUN: the demo's `edge` run (parity.json, metrics.json); CNN_RUN: the notebook CNN's run; BENCH_JSON:
`fmnist bench --json` output; PHOTO_JSONL and EDGE_JSONL: `fmnist classify --json` output on the sample photos with
the two shipped models (--model photo, the default, and --model edge).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fmnist.core.meta import read_meta
from fmnist.evaluation.run_card import RunCard
from fmnist.runtime.shipped import name_of, resolve


def parity_table(run: Path) -> Table:
    parity = json.loads((run / "parity.json").read_text())
    table = Table(title=f"export: every file against {run}/model.keras on the 10,000 test images "
                        f"(Keras {parity['reference_accuracy']:.2%})")
    for column in ("file", "size", "accuracy", "agreement", "gate"):
        table.add_column(column, justify="left" if column == "file" else "right")
    for f in parity["files"]:
        table.add_row(f["file"], f"{f['size_kb']:.0f} KB", f"{f['accuracy']:.2%}", f"{f['agreement']:.2%}",
                      "pass" if f["passed"] else "FAIL")
    return table


def _name(model: str) -> str:
    from fmnist.deploy.bench.run import short_name

    return short_name(model) + (" (notebook CNN)" if "cnn" in Path(model).parent.name else "")


def bench_table(bench: dict) -> Table:
    machine = bench["machine"]
    table = Table(title=f"bench: batch 1 on {machine['cpu']}, {machine['cores']} cores (compare rows, not machines)")
    for column in ("model", "precision", "threads", "accuracy", "photos", "p50 µs", "img/s (batch)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in bench["rows"]:
        photos = "-" if row["photos"] is None else f"{row['photos']:.1%}"
        table.add_row(_name(row["model"]), row["precision"], str(row["threads"]), f"{row['accuracy']:.2%}", photos,
                      f"{row['p50_us']:.0f}", f"{row['throughput_ips']:,.0f} ({row['throughput_batch']})")
    return table


def _answer(row: dict) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    answer = f"{row['label']} {row['score']:.0%}"
    return answer if row["sure"] else f"not sure (maybe {answer})"


def photo_table(photo: list[dict], edge: list[dict]) -> Table:
    table = Table(title="classify: the sample photos with the two shipped models")
    table.add_column("photo")
    table.add_column("--model photo (the default)")
    table.add_column("--model edge (28x28, the fastest)")
    for a, b in zip(photo, edge, strict=True):
        table.add_row(Path(a["input"]).name, _answer(a), _answer(b))
    return table


def _speedup(bench: dict) -> str:
    """", N times faster" from the bench rows of the two shipped models at one thread, if it timed both."""
    p50 = {name_of(Path(r["model"])): r["p50_us"] for r in bench["rows"] if r["threads"] == 1}
    photo, edge = p50.get("photo"), p50.get("edge")
    return f", {photo / edge:.0f} times faster here" if photo and edge else ""


def _rows(jsonl: Path) -> list[dict]:
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line]


def main(run: Path, cnn: Path, bench_json: Path, photo_jsonl: Path, edge_jsonl: Path) -> None:
    console = Console(width=max(Console().width, 100))
    edge, notebook = (RunCard.read(r) for r in (run, cnn))
    assert edge and notebook and edge.test_accuracy and notebook.test_accuracy, "run make demo: no run cards"
    bench = json.loads(bench_json.read_text())
    console.rule("fmnist demo")
    shipped, photo = (read_meta(resolve(name)) for name in ("edge", "photo"))  # the metadata alone, no session
    assert shipped is not None and photo is not None
    console.print(f"trained: edge, a short {edge.metrics['config']['epochs']}-epoch run: {edge.test_accuracy:.2%} on "
                  f"the test set in {edge.train_seconds:.0f} s. The full recipe (make model: "
                  f"{shipped.training['config']['epochs']} epochs and the clothing photos) reaches "
                  f"{shipped.training['test_accuracy']:.2%}; the shipped int8 file {shipped.parity['accuracy']:.2%}. "
                  f"The notebook CNN, {notebook.metrics['config']['epochs']} epoch(s): {notebook.test_accuracy:.2%}.")
    console.print(f"shipped: photo, the default, made for real photos: {photo.decision['strict']:.1%} of the "
                  f"validation photos right, strictly ({photo.decision['lenient']:.1%} lenient), "
                  f"{photo.parity['accuracy']:.2%} on the test set written as photos (int8). edge: "
                  f"{shipped.decision['strict']:.1%} strictly ({shipped.decision['lenient']:.1%}){_speedup(bench)}.")
    console.print(parity_table(run))
    console.print(bench_table(bench))
    console.print(photo_table(_rows(photo_jsonl), _rows(edge_jsonl)))
    console.print(f"plots: {run}/curves.png, confusion.png, samples.png, errors.png; "
                  f"annotated photos: {run}/annotated/; models and parity.md: {run}/")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*map(Path, sys.argv[1:]))
