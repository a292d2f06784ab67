"""fmnist bench: well-formed rows on a small model, quickly (few iterations); the advice; bad options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.deploy.bench.run import BenchReport, BenchRow, advise, plot
from fmnist.runtime.classifier import Classifier

runner = CliRunner()
KEYS = {"model", "format", "precision", "size_kb", "threads", "accuracy", "accuracy_on", "photos", "cold_ms", "p50_us",
        "p90_us", "p99_us", "throughput_batch", "throughput_ips", "peak_rss_mb"}  # pinned: the --json contract


@pytest.mark.slow
def test_bench_json_rows_are_well_formed(exported_cnn, bench_of_exported_cnn):
    """`fmnist bench --run EXPORTED_CNN --threads 1 --batch-size 1 --batch-size 16 --iterations 50 --rounds 2 --json`
    (conftest's BENCH_CNN; the fixture runs it once per run through the CLI, which must exit 0, for every test that
    reads it). Two rounds: every row's turn in a round starts with 50 ms of settling; test_rows_take_turns_in_rounds
    pins the default of 10 and two thread counts."""
    report = json.loads(bench_of_exported_cnn.read_text())
    assert set(report) == {"machine", "rounds", "rows", "skipped", "advice"} and report["skipped"] == []
    assert report["rounds"] == 2
    assert report["machine"]["cores"] >= 1 and report["machine"]["onnxruntime"]
    names = [(Path(r["model"]).name, r["threads"]) for r in report["rows"]]
    files = ["photo.int8.onnx", "edge.int8.onnx", "model.onnx", "model.int8.onnx", "model.tflite",
             "model.fp16.tflite", "model.int8.tflite"]
    assert names == [(f, 1) for f in files]
    parity = {row["file"]: row for row in json.loads((exported_cnn / "parity.json").read_text())["files"]}
    for row in report["rows"]:
        assert set(row) == KEYS and row["throughput_batch"] == 16
        photo = Path(row["model"]).name == "photo.int8.onnx"
        assert ("rendered as photos" in row["accuracy_on"]) == photo
        assert (row["photos"] is not None) == ("assets" in row["model"])  # the shipped models record photo figures
        assert 0 < row["p50_us"] <= row["p90_us"] <= row["p99_us"] and row["cold_ms"] > 0
        assert row["throughput_ips"] > 0 and row["peak_rss_mb"] > 10 and row["size_kb"] > 10
        name = Path(row["model"]).name
        if name in parity:  # the same harness as the gate: the same accuracy
            assert row["accuracy"] == parity[name]["accuracy"] and row["precision"] == parity[name]["precision"]
    # the shipped photo model on the 2,000 test images written as photos reaches the figure it records; int8 kernels
    # differ between CPUs (AMX, VNNI, another vendor's): within 0.5 pp
    photo = next(row for row in report["rows"] if Path(row["model"]).name == "photo.int8.onnx")
    recorded = Classifier("photo").meta.parity["accuracy"]
    assert abs(photo["accuracy"] - recorded) <= 0.005 and recorded >= 0.93
    assert report["advice"].startswith("for photos: deploy photo (shipped)")
    assert "; for Fashion-MNIST test images: deploy " in report["advice"]  # the exported CNN records no photo figures


@pytest.mark.slow
def test_rows_take_turns_in_rounds():
    """The default --rounds (10, as docs/commands.md says), on one file at two thread counts: a row for each, each
    round reported as it runs."""
    got = runner.invoke(app, ["bench", "--model", "edge", "--threads", "1", "--threads", "2", "--batch-size", "1",
                              "--batch-size", "8", "--iterations", "40", "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout)
    assert report["rounds"] == 10 and [r["threads"] for r in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["model"].endswith("edge.int8.onnx") and row["accuracy"] > 0.9
        assert 0 < row["p50_us"] <= row["p90_us"] <= row["p99_us"] and row["cold_ms"] > 0 and row["peak_rss_mb"] > 10
    assert [line.split(":")[0] for line in got.stderr.splitlines() if line.startswith("round")] == [
        f"round {r}/10" for r in range(1, 11)]


def row(name: str, precision: str, fmt: str, p50: float, accuracy: float, on: str = "test",
        photos: float | None = None) -> BenchRow:
    return BenchRow(model=f"runs/x/{name}", format=fmt, precision=precision, size_kb=100.0, threads=1,
                    accuracy=accuracy, accuracy_on=on, photos=photos, cold_ms=1.0, p50_us=p50, p90_us=p50,
                    p99_us=p50, throughput_batch=64, throughput_ips=1000, peak_rss_mb=50.0)


def test_advice_names_the_fastest_accurate_file_and_the_int8_verdict():
    rows = [row("model.onnx", "fp32", "onnx", 100.0, 0.910), row("model.int8.onnx", "int8", "onnx", 120.0, 0.909),
            row("model.tflite", "fp32", "tflite", 90.0, 0.910), row("model.int8.tflite", "int8", "tflite", 30.0, 0.890)]
    advice = advise(rows)
    assert advice.startswith("deploy x/model.tflite with 1 thread(s): 90 µs")  # int8 tflite lost 2 pp: not picked
    assert "x/model.int8.onnx 0.83x" in advice and "x/model.int8.tflite 3.00x" in advice
    assert advice.endswith("int8 pays only in some formats here")


def test_advice_for_photos_weighs_photos_over_speed_and_names_the_fastest_too():
    # a 28x28 model 40x faster and better on its own test set, but 15 pp worse on photos; a run without photo figures
    rows = [row("photo.int8.onnx", "int8", "onnx", 2000.0, 0.91, "test images rendered as photos", photos=0.935),
            row("edge.int8.onnx", "int8", "onnx", 50.0, 0.924, "Fashion-MNIST test images", photos=0.79),
            row("cnn.onnx", "fp32", "onnx", 70.0, 0.90, "Fashion-MNIST test images")]
    advice = advise(rows)
    assert advice.startswith("for photos: deploy x/photo.int8.onnx with 1 thread(s): 2000 µs at batch 1, 93.5% of")
    assert "where speed matters most, x/edge.int8.onnx with 1 thread(s): 50 µs at batch 1 (40x faster), 79.0%" in advice
    # on Fashion-MNIST's own images every row judged on them competes: the run without photo figures is worse
    assert ("; for Fashion-MNIST test images: deploy x/edge.int8.onnx with 1 thread(s): 50 µs at batch 1, 92.40% on "
            "Fashion-MNIST test images") in advice and "cnn" not in advice
    rows[2] = row("cnn.onnx", "fp32", "onnx", 70.0, 0.93, "Fashion-MNIST test images")  # better by 0.6 pp: named
    assert "; for Fashion-MNIST test images: deploy x/cnn.onnx with 1 thread(s): 70 µs" in advise(rows)


def test_the_table_fits_100_columns_with_every_header_whole():
    from rich.console import Console

    from fmnist.deploy.bench.run import render

    machine = {"cpu": "Intel(R) Xeon(R) Processor", "arch": "x86_64", "cores": 2, "int8_dot": ["avx512_vnni"],
               "onnxruntime": "1.32.0", "python": "3.11.7"}
    rows = [row("model.fp16.tflite", "fp16", "tflite", 13357.0, 0.9335, photos=0.935),  # the widest figures
            row("model.keras", "fp32", "keras", 67.0, 0.9, photos=None)]
    rows[0] = BenchRow(**{**rows[0].to_json(), "size_kb": 13206.0, "throughput_ips": 128000, "cold_ms": 1033.0,
                          "peak_rss_mb": 1202.0})
    console = Console(width=100, record=True)
    console.print(*render(BenchReport(machine, 1, rows, [], "")))
    text = console.export_text()
    head = next(line for line in text.splitlines() if line.lstrip().startswith("model"))
    assert head.split() == ["model", "file", "size", "thr", "acc", "photos", "cold", "p50", "p99", "img/s", "RSS"]
    assert all(len(line) <= 100 for line in text.splitlines()) and "13357" in text and "128,000" in text


def test_photo_figures_that_are_no_share_are_ignored(tmp_path):
    """A crafted card's strict share (NaN, true, 5, a string) is no photo figure: the row reads None, no crash."""
    import shutil

    from fmnist.core.meta import read_meta
    from fmnist.deploy.bench.run import _photos
    from fmnist.export.embed import embed_onnx
    from fmnist.runtime.shipped import resolve

    for value in (float("nan"), True, 5, "0.9", -0.1):
        path = tmp_path / "m.onnx"
        shutil.copy(resolve("edge"), path)
        meta = read_meta(path)
        meta.decision = {**meta.decision, "strict": value}
        path.write_bytes(embed_onnx(path, meta))
        assert _photos(read_meta(path)) is None, value
    assert _photos(read_meta(resolve("edge"))) == read_meta(resolve("edge")).decision["strict"]  # not lenient


def test_the_plot_names_the_images_accuracy_is_measured_on(tmp_path, monkeypatch):
    rows = [row("model.onnx", "fp32", "onnx", 100.0, 0.9, "held-out photos"),
            row("edge.int8.onnx", "int8", "onnx", 50.0, 0.9, "Fashion-MNIST test images")]
    labels = []
    monkeypatch.setattr("fmnist.train.plots.save_figure", lambda fig, out: labels.append(fig.axes[0].get_ylabel()))
    plot(BenchReport({}, 1, rows, [], ""), tmp_path / "plot.png")
    assert labels == ["accuracy on Fashion-MNIST test images / held-out photos (%)"]


def test_a_worker_that_cannot_open_its_model_says_why(tmp_path):
    from fmnist.core.errors import FmnistError
    from fmnist.deploy.bench.rounds import Worker

    (tmp_path / "text.onnx").write_text("hello")
    with pytest.raises(FmnistError, match=r"benchmarking .*text.onnx on 1 thread\(s\) failed: .*not a loadable"):
        Worker(tmp_path / "text.onnx", 1, [1])


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux-only")
@pytest.mark.slow
def test_every_worker_runs_on_the_same_first_cores():
    from fmnist.deploy.bench.rounds import Worker
    from fmnist.runtime.shipped import resolve

    cpus = sorted(os.sched_getaffinity(0))
    workers = [Worker(resolve("edge"), threads, [1]) for threads in (1, 1, 2)]
    try:
        assert [os.sched_getaffinity(w.pid) for w in workers] == [set(cpus[:1]), set(cpus[:1]), set(cpus[:2])]
    finally:
        for w in workers:
            w.finish()


def test_zero_rounds_is_a_usage_error():
    got = runner.invoke(app, ["bench", "--rounds", "0"])
    assert got.exit_code == 2 and "--rounds" in got.output


@pytest.mark.parametrize("threads", [["one"], ["1", "0"], ["one,two"]])
def test_bad_thread_counts_are_a_usage_error(threads):
    got = runner.invoke(app, ["bench", *(arg for count in threads for arg in ("--threads", count))])
    assert got.exit_code == 2 and got.stderr.startswith("error: --threads takes a whole number of at least 1")
    assert got.stderr.count("\n") == 1
