"""Gather the models, measure each (accuracy here; timing and memory in a process per model and thread count,
all rows timed side by side in rounds: fmnist.deploy.bench.rounds), and advise which file to deploy on this
machine."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fmnist.core.errors import FmnistError, UsageError
from fmnist.deploy.bench import machine
from fmnist.deploy.bench.rounds import time_side_by_side

MODEL_FILES = ("model.onnx", "model.int8.onnx", "model.tflite", "model.fp16.tflite", "model.int8.tflite")
NEEDS = {".onnx": "onnxruntime", ".tflite": "ai_edge_litert", ".keras": "tensorflow"}
INSTALL = {"ai_edge_litert": "pip install ai-edge-litert", "tensorflow": "pip install 'fmnist[train]'"}
SAME_ACCURACY_PP = 0.5  # files within this of the best accuracy count as equally accurate


@dataclass(frozen=True)
class BenchConfig:
    models: list[Path]
    threads: list[int]
    batches: list[int]
    iterations: int = 1000
    rounds: int = 10


def find_models(models: list[str], run_dir: Path | None) -> list[Path]:
    """The models named (paths, or the shipped models' names), else the shipped models plus every exported file
    in `run_dir`."""
    from fmnist.runtime.shipped import SHIPPED, resolve

    if models:
        paths = [resolve(m) for m in models]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UsageError(f"no such model: {', '.join(missing)}")
        return paths
    found = [m.path for m in SHIPPED.values() if m.path.is_file()]
    if run_dir:
        if not run_dir.is_dir():
            raise UsageError(f"--run {run_dir} is not a folder; export a model into it with fmnist export")
        found += [run_dir / name for name in MODEL_FILES if (run_dir / name).is_file()]
    return found


def _precision(path: Path) -> str:
    if path.suffix == ".keras":
        return "fp32"
    from fmnist.core.meta import read_meta

    try:
        meta = read_meta(path)
    except FmnistError:
        meta = None
    if meta:
        return meta.precision
    return "int8" if ".int8." in path.name else "fp16" if ".fp16." in path.name else "fp32"


def _accuracy(path: Path) -> tuple[float, str, tuple[int, ...]]:
    """Top-1 on the images the model is judged on (own labels: its held-out photos), what they are, and the shape
    of one model input (what its timing worker feeds it)."""
    from fmnist.evaluation.predictors import open_model
    from fmnist.evaluation.testset import test_set_for

    test = test_set_for(path)
    probs = open_model(path, threads=None)(test.inputs())
    accuracy = round(float((probs.argmax(1) == test.labels).mean()), 4)
    return accuracy, test.what, test.preparation.input_shape


@dataclass(frozen=True)
class BenchRow:
    """One model file at one thread count."""

    model: str
    format: str  # onnx, tflite or keras
    precision: str
    size_kb: float
    threads: int
    accuracy: float
    accuracy_on: str  # the images accuracy is measured on
    cold_ms: float
    p50_us: float
    p90_us: float
    p99_us: float
    throughput_batch: int
    throughput_ips: int
    peak_rss_mb: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BenchReport:
    machine: dict[str, Any]  # fmnist.deploy.bench.machine.describe()
    rounds: int
    rows: list[BenchRow]
    skipped: list[dict[str, str]]  # files whose runtime is not installed: {model, note}
    advice: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [row.to_json() for row in self.rows]}


def _facts(path: Path, progress: Callable[[str], None]) -> tuple[dict[str, Any], tuple[int, ...]]:
    """What a file is and how accurate, before it is timed; and the shape of one of its inputs."""
    progress(f"accuracy of {path}")
    accuracy, judged_on, shape = _accuracy(path)
    return {"model": str(path), "format": path.suffix[1:], "precision": _precision(path),
            "size_kb": round(path.stat().st_size / 1024, 1), "accuracy": accuracy, "accuracy_on": judged_on}, shape


def bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """One row per model and thread count, timed side by side, and the advice."""
    facts, skipped = [], []
    for path in cfg.models:
        runtime = NEEDS.get(path.suffix)
        if runtime is None:
            raise UsageError(f"cannot benchmark {path}: expected .onnx, .tflite or .keras")
        if importlib.util.find_spec(runtime) is None:
            skipped.append({"model": str(path), "note": f"skipped: needs {runtime} ({INSTALL.get(runtime, '')})"})
            continue
        known, shape = _facts(path, progress)
        facts += [(known, threads, shape) for threads in cfg.threads]
    timed = time_side_by_side([(Path(f["model"]), threads, shape) for f, threads, shape in facts], cfg.batches,
                              cfg.iterations, cfg.rounds, progress)
    rows = [BenchRow(**f, threads=threads, **asdict(timing))
            for (f, threads, _), timing in zip(facts, timed, strict=True)]
    return BenchReport(machine.describe(), cfg.rounds, rows, skipped, advise(rows))


def _pick(rows: list[BenchRow]) -> str:
    """The fastest among the most accurate of rows judged on the same images."""
    best_accuracy = max(r.accuracy for r in rows)
    pick = min((r for r in rows if r.accuracy >= best_accuracy - SAME_ACCURACY_PP / 100), key=lambda r: r.p50_us)
    return (f"deploy {short_name(pick.model)} with {pick.threads} thread(s): {pick.p50_us:.0f} µs at batch 1, "
            f"{pick.accuracy:.2%} on {pick.accuracy_on}")


def advise(rows: list[BenchRow]) -> str:
    """Which file to deploy here for each kind of image the rows are judged on (a photo model and a 28x28 model are
    made for different images: their accuracies do not compare), and whether int8 pays."""
    deployable = [r for r in rows if r.format != "keras"]
    if not deployable:
        return "no deployable (.onnx/.tflite) rows to compare"
    judged_on = sorted({r.accuracy_on for r in deployable})
    advice = "; ".join(("for " + on + ": " if len(judged_on) > 1 else "")
                       + _pick([r for r in deployable if r.accuracy_on == on]) for on in judged_on)
    speedups = [(r, twin.p50_us / r.p50_us) for r in deployable if r.precision == "int8"
                for twin in deployable if _fp32_twin(twin, r)]
    if speedups:
        advice += ". int8 over fp32 at batch 1: " + ", ".join(
            f"{short_name(r.model)} {s:.2f}x ({r.threads} thr)" for r, s in speedups)
        paying = sum(s > 1.1 for _, s in speedups)
        advice += (" - int8 pays here" if paying == len(speedups) else " - int8 does not pay here" if not paying
                   else " - int8 pays only in some formats here")
    return advice


def _fp32_twin(row: BenchRow, int8: BenchRow) -> bool:
    """The fp32 file of the same export, format and thread count as an int8 row."""
    return (row.precision == "fp32" and row.format == int8.format and row.threads == int8.threads
            and Path(row.model).parent == Path(int8.model).parent)


def judged_on(report: BenchReport) -> str:
    """The images the rows' accuracy is measured on: Fashion-MNIST's test images, held-out photos, or both."""
    return " / ".join(sorted({r.accuracy_on for r in report.rows}))


def render(report: BenchReport) -> list[Any]:
    from rich.table import Table

    table = Table(title=machine.line(report.machine), caption=f"accuracy on {judged_on(report)}")
    big = max((r.throughput_batch for r in report.rows), default=0)
    columns = ("model", "format", "prec", "size", "thr", "accuracy", "cold ms", "p50 µs", "p90 µs", "p99 µs",
               f"img/s b{big}", "RSS MB")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "format", "prec") else "right",
                         no_wrap=column == "model")
    for r in report.rows:
        table.add_row(short_name(r.model), r.format, r.precision, f"{r.size_kb:.0f} KB", str(r.threads),
                      f"{r.accuracy:.2%}", f"{r.cold_ms:.0f}", f"{r.p50_us:.0f}", f"{r.p90_us:.0f}",
                      f"{r.p99_us:.0f}", f"{r.throughput_ips:,}",
                      f"{r.peak_rss_mb:.0f}")
    return [table, *(s["note"] + f": {s['model']}" for s in report.skipped), f"advice: {report.advice}"]


def short_name(model: str) -> str:
    """A shipped model's name, or the file with its folder."""
    from fmnist.runtime.shipped import name_of

    path = Path(model)
    shipped = name_of(path) if path.parent.name == "assets" else None
    return f"{shipped} (shipped)" if shipped else f"{path.parent.name}/{path.name}"


def plot(report: BenchReport, out: Path) -> None:
    """Accuracy against batch-1 latency, one point per row (needs matplotlib, from the train extra)."""
    from fmnist.train.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in report.rows:
        ax.scatter(r.p50_us, r.accuracy * 100, s=40)
        ax.annotate(f"{short_name(r.model)} ({r.threads}t)",
                    (r.p50_us, r.accuracy * 100), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set(xscale="log", xlabel="batch-1 latency, p50 (µs, log)", ylabel=f"accuracy on {judged_on(report)} (%)",
           title="accuracy vs latency")
    ax.grid(alpha=0.3)
    save_figure(fig, out)
