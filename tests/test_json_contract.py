"""The --json output of classify, live, bench, evaluate and info is a contract with scripts that read it: the key
sets are pinned here, written out, so a refactor that renames or drops a key fails."""

from __future__ import annotations

import json
from pathlib import Path

from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.data import fashion
from fmnist.runtime.classifier import default_model
from scripts.product_video import write_video

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"
runner = CliRunner()

CLASSIFY = {"input", "label", "index", "score", "sure", "threshold", "top", "ms", "low_contrast", "empty"}
CLASSIFY_ERROR = {"input", "error"}
GUESS = {"label", "index", "score"}
LIVE = {"frame", "label", "score", "fps", "ms", "source_frame", "age_ms"}
BENCH = {"machine", "rounds", "rows", "skipped", "advice"}
BENCH_ROW = {"model", "format", "precision", "size_kb", "threads", "accuracy", "accuracy_on", "photos", "cold_ms",
             "p50_us",
             "p90_us", "p99_us", "throughput_batch", "throughput_ips", "peak_rss_mb"}
MACHINE = {"cpu", "arch", "cores", "int8_dot", "onnxruntime", "python"}
EVALUATE = {"model", "labels", "data", "accuracy", "n", "per_class", "confusion", "photos"}
PER_CLASS = {"precision", "recall", "f1", "support"}
PHOTOS = {"photos", "n", "n_mapped", "threshold", "strict", "lenient", "mean_strict", "mean_lenient", "coverage",
          "answered_lenient", "unsure_unmapped", "empty", "per_folder", "confusion"}
INFO = {"precision", "source_sha256", "labels", "input", "preprocessing", "preprocess", "training", "parity",
        "decision", "export_command", "fmnist_version", "created"}


def json_lines(args: list[str]) -> list[dict]:
    got = runner.invoke(app, args)
    assert got.exit_code in (0, 1), got.output
    return [json.loads(line) for line in got.stdout.splitlines()]


def test_classify_json_keys(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    good, bad = json_lines(["classify", str(EXAMPLES / "pants.jpg"), str(tmp_path / "broken.jpg"), "--json"])
    assert set(good) == CLASSIFY and all(set(g) == GUESS for g in good["top"])
    assert set(bad) == CLASSIFY_ERROR


def test_live_json_keys(tmp_path):
    write_video(tmp_path / "clip.mp4", fashion.load_split("test").images[:2], hold=3, blank=1)
    rows = json_lines(["live", "--source", str(tmp_path / "clip.mp4"), "--no-display", "--json"])
    assert len(rows) == 7 and all(set(row) == LIVE for row in rows)


def test_bench_json_keys():
    (report,) = json_lines(["bench", "edge", "--threads", "1", "--batch", "1,4", "--iterations", "20", "--rounds",
                            "1", "--json"])
    assert set(report) == BENCH and set(report["machine"]) == MACHINE
    assert [set(row) for row in report["rows"]] == [BENCH_ROW]


def test_evaluate_json_keys(tmp_path):
    photos = make_tree(tmp_path / "photos", per_class=2, classes=("pants", "hat"))
    (report,) = json_lines(["evaluate", "edge", "--photos", str(photos), "--json"])  # edge: the same keys, faster
    assert set(report) == EVALUATE and all(set(row) == PER_CLASS for row in report["per_class"].values())
    assert set(report["photos"]) == PHOTOS and set(report["photos"]["per_folder"]) == {"pants", "hat"}


def test_info_json_keys():
    (meta,) = json_lines(["info", str(default_model()), "--json"])
    assert set(meta) == INFO
