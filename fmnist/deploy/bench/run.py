"""Gather the models, measure each (accuracy here; timing and memory in a process per model and thread count,
all rows timed side by side in rounds: fmnist.deploy.bench.rounds), and advise which file to deploy on this
machine."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fmnist.core.atomic import NewFile
from fmnist.core.errors import FmnistError, ModelError, UsageError, escaped
from fmnist.core.formats import FORMATS, Format, listing, part, recognise
from fmnist.core.meta import ModelMeta
from fmnist.deploy.bench import machine
from fmnist.deploy.bench.rounds import time_side_by_side

MODEL_WIDTH = 20  # characters of a model's name the table shows before cutting it
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
    from fmnist.export.targets import ExportOptions, files
    from fmnist.runtime.shipped import SHIPPED, resolve

    if models:
        paths = [resolve(m) for m in models]
        missing = [escaped(p) for p in paths if not os.path.lexists(p)]  # a name too long for the system: missing
        if missing:  # as classify and info say it (exit 4)
            raise ModelError(f"model {missing[0]} does not exist" + (f" (nor {', '.join(missing[1:])})"
                                                                     if len(missing) > 1 else ""))
        other = next((p for p in paths if not os.path.isfile(p)), None)  # a pipe, a folder: as info says it
        if other is not None:
            raise ModelError(f"cannot read {escaped(other)}: not a regular file (a folder, a pipe or a device)")
        return list(dict.fromkeys(paths))  # one row a model, named twice or not
    found = [m.path for m in SHIPPED.values() if m.path.is_file()]
    if run_dir:
        if not run_dir.is_dir():
            raise UsageError(f"--run {run_dir} is not a folder; export a model into it with fmnist export")
        every = [name for name, _ in files(ExportOptions(int8=True, fp16=True))]  # each file export may write
        found += [run_dir / name for name in every if (run_dir / name).is_file()]
    return found


def _meta(path: Path, found: Format) -> ModelMeta | None:
    """An exported file's metadata, read once for the facts below; None for a format that embeds none (.keras), or
    a file whose metadata cannot be read (its accuracy, measured next, then says what is wrong with it)."""
    if found.reader is None:
        return None
    from fmnist.core.meta import read_meta

    try:
        return read_meta(path)
    except FmnistError:
        return None


def _precision(path: Path, meta: ModelMeta | None) -> str:
    """The metadata's precision; without metadata, export's name for it (model.int8.onnx), else fp32 (a .keras)."""
    if meta:
        return meta.precision
    return "int8" if ".int8." in path.name else "fp16" if ".fp16." in path.name else "fp32"


def _photos(meta: ModelMeta | None) -> float | None:
    """The share of the clothing set's validation photos a Fashion-MNIST-label model answers right, strictly (the one
    answer a person gives: the folder's class, or the label given by eye), as its metadata records it from
    training; None when it records none (a card from before strict figures), records no share (a crafted value),
    or has labels of its own (its photos are its own: not comparable)."""
    from fmnist.core.jsonsafe import finite_share

    strict = meta.decision.get("strict") if meta and not meta.own_labels else None
    return float(strict) if finite_share(strict) else None  # type: ignore[arg-type]


def _accuracy(path: Path) -> tuple[float, str, tuple[int, ...]]:
    """Top-1 on the images the model is judged on (own labels: its held-out photos), what they are, and the shape
    of one model input (what its timing worker feeds it)."""
    from fmnist.evaluation.predictors import open_model
    from fmnist.evaluation.testset import test_set_for

    test = test_set_for(path)
    probs = test.probs(open_model(path, threads=None))
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
    photos: float | None  # validation photos right, as recorded at training (_photos); None: not recorded
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


def _facts(path: Path, found: Format, progress: Callable[[str], None]) -> tuple[dict[str, Any], tuple[int, ...]]:
    """What a file is and how accurate, before it is timed; and the shape of one of its inputs."""
    progress(f"accuracy of {path}")
    accuracy, judged_on, shape = _accuracy(path)
    meta = _meta(path, found)
    return {"model": str(path), "format": found.name, "precision": _precision(path, meta),
            "size_kb": round(path.stat().st_size / 1024, 1), "accuracy": accuracy, "accuracy_on": judged_on,
            "photos": _photos(meta)}, shape


MAX_BATCH = 4096  # the largest --batch-size for any model; an ONNX file is held to what the model check allows it


def _check_batches(path: Path, found: Format, batches: list[int]) -> None:
    """The largest --batch-size fits the model: at most MAX_BATCH images, and for a format with a check before it runs
    (ONNX, TFLite: Format.max_rows), at most the images one call may take within its memory bound (the photo model:
    66)."""
    limit, why = MAX_BATCH, f"bench times at most {MAX_BATCH} images in one call"
    if found.max_rows:
        fits = part(found.max_rows)(path)
        if fits < limit:
            limit, why = fits, f"in one call it may take {fits} within the model check's memory bound"
    if max(batches) > limit:
        raise UsageError(f"--batch-size {max(batches)}: {escaped(str(path))}: {why}; ask for a smaller batch")


def bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """One row per model and thread count, timed side by side, and the advice."""
    facts, skipped = [], []
    for path in cfg.models:
        found = recognise(path)
        if found is None:
            raise UsageError(f"cannot benchmark {path}: expected a {listing()} model")
        if importlib.util.find_spec(found.package) is None:
            skipped.append({"model": str(path), "note": f"skipped: needs {found.package} ({found.install})"})
            continue
        _check_batches(path, found, cfg.batches)
        known, shape = _facts(path, found, progress)
        facts += [(known, threads, shape) for threads in cfg.threads]
    timed = time_side_by_side([(Path(f["model"]), threads, shape) for f, threads, shape in facts], cfg.batches,
                              cfg.iterations, cfg.rounds, progress)
    rows = [BenchRow(**f, threads=threads, **asdict(timing))
            for (f, threads, _), timing in zip(facts, timed, strict=True)]
    return BenchReport(machine.describe(), cfg.rounds, rows, skipped, advise(rows))


def _pick(rows: list[BenchRow], score: Callable[[BenchRow], float]) -> BenchRow:
    """The fastest among the rows within SAME_ACCURACY_PP of the best score."""
    best = max(score(r) for r in rows)
    return min((r for r in rows if score(r) >= best - SAME_ACCURACY_PP / 100), key=lambda r: r.p50_us)


def _speed(row: BenchRow) -> str:
    return f"{short_name(row.model)} with {row.threads} thread(s): {row.p50_us:.0f} µs at batch 1"


def _for_photos(rows: list[BenchRow]) -> str:
    """The best on photos, and the fastest if it is another model: what each is for."""
    pick = _pick(rows, lambda r: r.photos or 0.0)
    advice = f"for photos: deploy {_speed(pick)}, {pick.photos:.1%} of the validation photos right"
    fastest = min(rows, key=lambda r: r.p50_us)
    if fastest.p50_us < pick.p50_us and (fastest.photos or 0.0) < (pick.photos or 0.0):
        times = pick.p50_us / fastest.p50_us
        advice += (f"; where speed matters most, {_speed(fastest)} ({times:.{0 if times >= 10 else 1}f}x faster), "
                   f"{fastest.photos:.1%} of the validation photos right")
    return advice


def advise(rows: list[BenchRow]) -> str:
    """Which file to deploy here: for photos, by the share of validation photos each model's card records (and the
    fastest, when it is another model); for the images rows without photo figures are judged on, the most accurate of
    all the rows judged on them (with or without photo figures), one pick per kind of image (a 28x28 model and a
    colour model are not judged on the same images);
    and whether int8 pays."""
    deployable = [r for r in rows if FORMATS[r.format].exported]
    if not deployable:
        return f"no deployable ({listing([f for f in FORMATS.values() if f.exported])}) rows to compare"
    rated = [r for r in deployable if r.photos is not None]
    unrated = [r for r in deployable if r.photos is None]
    judged_on = sorted({r.accuracy_on for r in unrated})
    parts = [_for_photos(rated)] if rated else []
    for on in judged_on:
        pick = _pick([r for r in deployable if r.accuracy_on == on], lambda r: r.accuracy)
        parts.append(("for " + on + ": " if len(judged_on) + len(parts) > 1 else "")
                     + f"deploy {_speed(pick)}, {pick.accuracy:.2%} on {pick.accuracy_on}")
    advice = "; ".join(parts)
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
    """The fp32 file of the same export, format and thread count as an int8 row: the same folder and the same name
    before its first dot (model.onnx and model.int8.onnx; edge.onnx and edge.int8.onnx)."""
    a, b = Path(row.model).resolve(), Path(int8.model).resolve()
    return (row.precision == "fp32" and row.format == int8.format and row.threads == int8.threads
            and a.parent == b.parent and a.name.split(".")[0] == b.name.split(".")[0])


def judged_on(report: BenchReport) -> str:
    """The images the rows' accuracy is measured on: Fashion-MNIST's test images, held-out photos, or both."""
    return " / ".join(sorted({r.accuracy_on for r in report.rows}))


def render(report: BenchReport) -> list[Any]:
    from rich import box
    from rich.table import Table
    from rich.text import Text  # not markup: a file named 'a[/b].onnx' is shown as it is

    caption = (f"acc: accuracy on {judged_on(report)}; cold start in ms, batch-1 p50 and p99 in µs, peak RSS in MB; "
               "p90 and the batch size of img/s: --json")
    if any(r.photos is not None for r in report.rows):
        caption += "; photos: validation photos right (strict), as recorded when the model was trained"
    # no lines between the columns and the model's name cut first, so that ten figures fit 100 columns
    table = Table(title=machine.line(report.machine), caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True,
                  pad_edge=False)
    cells = [[short_name(r.model), f"{r.format} {r.precision}", f"{r.size_kb:.0f} KB", str(r.threads),
              f"{r.accuracy:.2%}", "-" if r.photos is None else f"{r.photos:.1%}", f"{r.cold_ms:.0f}",
              f"{r.p50_us:.0f}", f"{r.p99_us:.0f}", f"{r.throughput_ips:,}", f"{r.peak_rss_mb:.0f}"]
             for r in report.rows]
    columns = ("model", "file", "size", "thr", "acc", "photos", "cold", "p50", "p99", "img/s", "RSS")
    for i, column in enumerate(columns):
        width = max([len(column), *(len(row[i]) for row in cells)])
        table.add_column(column, justify="left" if i < 2 else "right", no_wrap=True, overflow="ellipsis",
                         **({"max_width": MODEL_WIDTH} if i == 0 else {"min_width": width}))
    for row in cells:
        table.add_row(*map(Text, row))
    return [table, *(Text(s["note"] + f": {escaped(s['model'])}") for s in report.skipped),
            Text(f"advice: {report.advice}")]


def short_name(model: str) -> str:
    """A shipped model's name, or the file with its folder (escaped: a name can neither forge a line of the table
    nor drive the terminal)."""
    from fmnist.runtime.shipped import name_of

    path = Path(model)
    shipped = name_of(path) if path.parent.name == "assets" else None
    return f"{shipped} (shipped)" if shipped else escaped(str(Path(path.parent.name) / path.name))  # "m.onnx" here


def check_plot(out: Path | None) -> None:
    """Refuse (UsageError) a --plot name that is taken, not a .png, or in no folder this process can write in,
    before minutes of timing (plot checks the name again)."""
    if out is None:
        return
    if out.exists() or out.is_symlink():
        raise UsageError(f"--plot {escaped(out)}: the file exists; choose a new name or move it away (fmnist never "
                         "writes over a file)")
    if out.suffix.lower() != ".png":
        raise UsageError(f"--plot {escaped(out)}: bench draws a PNG; give a name like plot.png")
    folder = out.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        why = ("does not exist" if not folder.exists() else "is not a folder" if not folder.is_dir()
               else "is not one this user can write in")
        raise UsageError(f"--plot {escaped(out)}: {escaped(folder)} {why}; give a path in a folder you can write in")


def plot(report: BenchReport, out: Path) -> None:
    """Accuracy against batch-1 latency, one point per row (needs matplotlib, from the train extra). `out` is
    claimed only if it is still free: a file made there while bench timed is left as it was (UsageError)."""
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
    try:
        save_figure(fig, NewFile(Path(out)))
    except OSError as e:  # a folder that takes no files though it looked writable (/proc, a full disk)
        raise FmnistError(f"--plot {escaped(out)}: cannot write it: {e.strerror or e}; the figures are above") from e
