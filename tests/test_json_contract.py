"""The --json output of classify, live, bench, evaluate and info is a contract with scripts that read it: the key
sets are pinned here, written out, so a refactor that renames or drops a key fails.

Each is checked on the object the command prints, made from small real inputs: a result's to_json, or the report
`evaluate` returns (a crafted two-label model judged on four held-out images and two photos). One CLI run checks
that classify prints those objects, one line each."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import cv2
import pytest
from crafted import own_run
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.jsonsafe import dumps
from fmnist.core.meta import read_meta
from fmnist.deploy.bench.machine import describe
from fmnist.deploy.bench.run import BenchReport, BenchRow
from fmnist.evaluation.evaluate import evaluate
from fmnist.runtime.classifier import Classifier, default_model
from fmnist.runtime.model_info import shipped_info
from fmnist.runtime.video.step import FrameStep

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"

CLASSIFY = {"input", "label", "index", "score", "sure", "threshold", "top", "ms", "low_contrast", "empty"}
CLASSIFY_ERROR = {"input", "error"}
GUESS = {"label", "index", "score"}
LIVE = {"frame", "label", "score", "fps", "ms", "source_frame", "age_ms"}
BENCH = {"machine", "rounds", "rows", "skipped", "advice"}
BENCH_ROW = {"model", "format", "precision", "size_kb", "threads", "accuracy", "accuracy_on", "photos", "cold_ms",
             "p50_us", "p90_us", "p99_us", "throughput_batch", "throughput_ips", "peak_rss_mb"}
MACHINE = {"cpu", "arch", "cores", "int8_dot", "onnxruntime", "python"}
EVALUATE = {"model", "labels", "data", "accuracy", "n", "per_class", "confusion", "photos"}
PER_CLASS = {"precision", "recall", "f1", "support"}
PHOTOS = {"photos", "n", "n_mapped", "threshold", "strict", "lenient", "mean_strict", "mean_lenient", "coverage",
          "answered_lenient", "unsure_unmapped", "empty", "per_folder", "per_class", "confusion",
          "n_strict", "unknown_by_eye"}
INFO = {"precision", "source_sha256", "labels", "input", "preprocessing", "preprocess", "training", "parity",
        "decision", "export_command", "fmnist_version", "created"}
SHIPPED = {"name", "default", "file", "about", "size_kb", "test_accuracy", "tested_on", "photos_strict",
           "photos_lenient", "threshold"}


def printed(obj: object) -> dict:
    """`obj` as the CLI prints it (fmnist.core.jsonsafe), read back: what a script gets."""
    return json.loads(dumps(obj))


@pytest.fixture(scope="module")
def edge() -> Classifier:
    return Classifier("edge")


def test_classify_prints_one_json_line_per_input(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    got = CliRunner().invoke(app, ["classify", str(EXAMPLES / "pants.jpg"), str(tmp_path / "broken.jpg"),
                                   "--model", "edge", "--json"])
    assert got.exit_code == 1, got.output  # one input could not be classified
    good, bad = (json.loads(line) for line in got.stdout.splitlines())
    assert set(good) == CLASSIFY and all(set(g) == GUESS for g in good["top"]) and len(good["top"]) > 1
    assert set(bad) == CLASSIFY_ERROR and bad["input"].endswith("broken.jpg")


def test_a_live_frame_s_json_keys(edge):
    step = FrameStep(edge)
    try:
        result, _ = step(cv2.imread(str(EXAMPLES / "pants.jpg")))
    finally:
        step.close()
    assert set(printed(result.to_json())) == LIVE


def test_a_bench_report_s_json_keys():
    row = BenchRow(model="runs/x/model.int8.onnx", format="onnx", precision="int8", size_kb=100.0, threads=1,
                   accuracy=0.9, accuracy_on="Fashion-MNIST test images", photos=None, cold_ms=1.0, p50_us=50.0,
                   p90_us=60.0, p99_us=70.0, throughput_batch=64, throughput_ips=1000, peak_rss_mb=50.0)
    report = printed(BenchReport(describe(), 1, [row], [{"model": "m.tflite", "note": "LiteRT not installed"}],
                                 "use m.int8.onnx").to_json())
    assert set(report) == BENCH and set(report["machine"]) == MACHINE
    assert [set(r) for r in report["rows"]] == [BENCH_ROW] == [{f.name for f in fields(BenchRow)}]


def test_an_evaluate_report_s_json_keys(tmp_path):
    path = own_run(tmp_path / "run", ("hat", "pants"))
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("pants", "hat"))
    report = printed(evaluate(path, photos=photos))
    assert set(report) == EVALUATE and set(report["per_class"]) == {"hat", "pants"}
    assert all(set(row) == PER_CLASS for row in report["per_class"].values())
    assert set(report["photos"]) == PHOTOS and set(report["photos"]["per_folder"]) == {"pants", "hat"}


def test_info_json_keys():
    meta = read_meta(default_model())
    assert meta is not None and set(json.loads(meta.to_json())) == INFO
    listed = [printed(row.to_json()) for row in shipped_info()]
    assert len(listed) >= 2 and all(set(row) == SHIPPED for row in listed)
