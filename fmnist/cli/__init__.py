"""The `fmnist` command. Each command parses its options, makes one library call and prints the result.

TensorFlow-side modules are imported inside the command bodies, so `--help` and the runtime commands stay light.
Library errors (FmnistError) become one `error: …` line on stderr and the error's exit code.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fmnist import __version__
from fmnist.cli.common import DataDir, Json, command_line, print_rich, stdout_json
from fmnist.cli.runtime import register as register_runtime_commands
from fmnist.core.errors import FmnistError, UsageError
from fmnist.runtime.decision import COVERAGE
from fmnist.train.models import DEFAULT_MODEL, REGISTRY


class FmnistGroup(TyperGroup):
    """Turns a library error into `error: …` on stderr and its exit code, with no traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FmnistError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None


app = typer.Typer(
    cls=FmnistGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    help="Fashion-MNIST from a Keras notebook to a device: train, export with a parity gate, classify, bench.",
)
data_app = typer.Typer(no_args_is_help=True, help="Find, check and download the Fashion-MNIST IDX files.")
app.add_typer(data_app, name="data")

ModelName = enum.Enum("ModelName", {name: name for name in REGISTRY}, type=str)  # type: ignore[misc]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fmnist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Fashion-MNIST from a Keras notebook to a device.

    [b]Quick start[/b]: fmnist train --model edge, then fmnist evaluate runs/edge/model.keras
    """


@data_app.command("info")
def data_info(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Show where the dataset was found and its class counts (and check every file).

    Example: fmnist data info --data-dir /usr/share/datasets/fashion-mnist
    """
    from fmnist.core.meta import CLASS_NAMES
    from fmnist.data import fashion

    location = fashion.locate(data_dir)
    train, test = fashion.load(location.path)
    counts = {"train": fashion.class_counts(train.labels).tolist(), "test": fashion.class_counts(test.labels).tolist()}
    if as_json:
        stdout_json({"path": str(location.path), "source": location.source, "classes": list(CLASS_NAMES),
                      "counts": counts})
        return
    from rich.table import Table

    table = Table(title="class counts")
    for column in ("class", "train", "test"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(CLASS_NAMES):
        table.add_row(f"{i} {name}", str(counts["train"][i]), str(counts["test"][i]))
    table.add_row("total", str(len(train.labels)), str(len(test.labels)), style="bold")
    print_rich(f"Fashion-MNIST found at {location.path} ({location.source}); all four files check out", table)


@data_app.command("fetch")
def data_fetch(
    dest: Path | None = typer.Option(None, "--dest", file_okay=False,
                                     help="Where to save the files (default ~/.keras/datasets/fashion-mnist; with "
                                          "--photos, ~/.keras/datasets/clothing-dataset-small)."),
    base_url: str | None = typer.Option(None, "--base-url", envvar="FMNIST_BASE_URL",
                                        help="Download from this mirror instead of the official GitHub copy."),
    skip_md5: bool = typer.Option(False, "--skip-md5",
                                  help="Skip the official MD5 check (for a mirror that recompresses)."),
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="Network timeout in seconds."),
    photos: bool = typer.Option(False, "--photos", help="Instead, download the clothing photo set (CC0, about "
                                                        "3,800 phone photos in train/validation/test) to learn "
                                                        "from and check on real photos."),
    photos_url: str | None = typer.Option(None, "--photos-url", envvar="FMNIST_PHOTOS_URL",
                                          help="With --photos: download the zip from this mirror."),
) -> None:
    """Download the four official IDX files, check them, and save them where fmnist finds them.

    Example: fmnist data fetch --dest ~/data/fashion-mnist

    Example: fmnist data fetch --photos   (then: fmnist train --photos ~/.keras/datasets/clothing-dataset-small/train)
    """
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from fmnist.data.fetch import OFFICIAL_MD5, fetch

    console = Console(stderr=True)
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        if photos:
            from fmnist.data.fetch_photos import PHOTO_COUNTS, fetch_photos

            folder = fetch_photos(dest, photos_url, progress=on_progress, timeout=max(timeout, 60.0))
        else:
            folder = fetch(dest, base_url, None if skip_md5 else OFFICIAL_MD5, on_progress, timeout)
    if photos:
        typer.echo(f"saved and checked the clothing photo set in {folder}: "
                   + ", ".join(f"{split}/ {n} photos" for split, n in PHOTO_COUNTS.items()))
        return
    typer.echo(f"saved and checked the four Fashion-MNIST files in {folder}")


@app.command()
def train(
    model: ModelName = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Which registry model to train."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs (default: the model's recipe)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Batch size (default: the recipe's)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split, shuffling, augmentation and weights."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False, help="Run folder (default runs/MODEL)."),
    val_split: float = typer.Option(0.1, "--val-split", min=0.01, max=0.9,
                                    help="Stratified share of training images held out for validation."),
    limit: int | None = typer.Option(None, "--limit", min=20, help="Train on a stratified subset (for quick checks)."),
    photos: Path | None = typer.Option(None, "--photos", exists=True, file_okay=False,
                                       help="Also learn from real photos: a folder with one subfolder per class."),
    photos_val: Path | None = typer.Option(None, "--photos-val", exists=True, file_okay=False,
                                           help="Photos to report on and to choose the 'not sure' threshold with "
                                                "(never trained on)."),
    photo_map: Path | None = typer.Option(None, "--photo-map", exists=True, dir_okay=False,
                                          help="JSON {folder: [labels]} (default: the clothing photo set's "
                                               "folders; [] means 'not sure')."),
    photo_share: float | None = typer.Option(None, "--photo-share", min=0.01, max=0.9,
                                             help="Share of each epoch's samples that are photos (default: "
                                                  "the recipe's)."),
    photo_epochs: int | None = typer.Option(None, "--photo-epochs", min=1,
                                            help="Photos join for the last N epochs (default: the recipe's)."),
    coverage: float = typer.Option(COVERAGE, "--coverage", min=0.05, max=1.0,
                                   help="The 'not sure' threshold answers this share of mapped --photos-val "
                                        "photos."),
    own_labels: bool = typer.Option(False, "--own-labels",
                                    help="Learn --photos' folder names as the labels (2-50 classes), from a "
                                         "Fashion-MNIST backbone with a new head."),
    init: Path | None = typer.Option(None, "--init", exists=True, dir_okay=False,
                                     help="With --own-labels: the .keras model to start from (default: the "
                                          "shipped edge model's backbone)."),
    holdout: float = typer.Option(0.15, "--holdout", min=0.05, max=0.5,
                                  help="With --own-labels and no --photos-val: share of each folder held out."),
    per_class: int | None = typer.Option(None, "--per-class", min=1,
                                         help="With --own-labels: learn from at most N photos per folder."),
    data_dir: Path | None = DataDir,
) -> None:
    """Train a model and write its run folder: model.keras, history.json, metrics.json and four plots.

    Models: [b]edge[/b] (default, ours), [b]cnn[/b] (the Keras notebook CNN), [b]mlp[/b], [b]mlp2[/b].

    With --photos, real photos go through the runtime's own preprocessing (cached) and join training;
    with --photos-val, metrics.json and photo_confusion.png report them and the 'not sure' threshold is chosen.

    Example: fmnist train --model cnn --epochs 5 --batch-size 64 --seed 0 --out runs/cnn

    Example: fmnist train --photos photos/train --photos-val photos/validation

    With --own-labels, the labels are the --photos folder names (docs/your-own-classes.md):

    Example: fmnist train --photos my-photos --own-labels --out runs/mine
    """
    if own_labels:
        _train_own(photos, photos_val, init, out, epochs, batch_size, holdout, per_class, seed, coverage)
        return
    if init or per_class:
        raise UsageError("--init and --per-class go with --own-labels")
    from fmnist.train.fit import TrainConfig
    from fmnist.train.fit import train as run

    cfg = TrainConfig(model=model.value, out=out, epochs=epochs, batch_size=batch_size, seed=seed,
                      val_split=val_split, limit=limit, data_dir=data_dir, photos=photos, photos_val=photos_val,
                      photo_map=photo_map, photo_share=photo_share, photo_epochs=photo_epochs, coverage=coverage,
                      command=command_line())
    metrics = run(cfg)
    folder = out or Path("runs") / model.value
    typer.echo(f"{metrics['model']}: test accuracy {metrics['test_accuracy']:.2%}, {metrics['params']:,} params, "
               f"trained in {metrics['train_seconds']:.0f} s")
    if "photos" in metrics:
        p = metrics["photos"]
        typer.echo(f"photos ({p['photos']}): lenient {p['lenient']:.1%}, strict {p['strict']:.1%}, mean over "
                   f"folders {p['mean_lenient']:.1%}; 'not sure' below {p['threshold']:.2f}: answers "
                   f"{p['coverage']:.0%} of mapped photos ({p['answered_lenient']:.1%} right), unsure on "
                   f"{p['unsure_unmapped']:.0%} of unmapped")
    typer.echo(f"wrote {folder}/: model.keras history.json metrics.json curves.png confusion.png samples.png "
               "errors.png" + (" photo_confusion.png" if "photos" in metrics else ""))


def _train_own(photos: Path | None, photos_val: Path | None, init: Path | None, out: Path | None,
               epochs: int | None, batch_size: int | None, holdout: float, per_class: int | None, seed: int,
               coverage: float) -> None:
    from fmnist.train.own import OwnConfig, train_own

    if photos is None:
        raise UsageError("--own-labels learns from --photos DIR: a folder with one subfolder per class")
    defaults = OwnConfig(photos)
    cfg = OwnConfig(photos, out=out, photos_val=photos_val, init=init, epochs=epochs or defaults.epochs,
                    batch_size=batch_size or defaults.batch_size, holdout=holdout, per_class=per_class, seed=seed,
                    coverage=coverage, command=command_line())
    metrics = train_own(cfg)
    folder = out or Path("runs") / "own"
    p, own = metrics["photos"], metrics["own_labels"]
    typer.echo(f"{len(metrics['labels'])} labels ({', '.join(metrics['labels'])}): top-1 "
               f"{metrics['heldout_accuracy']:.1%} on {own['n_heldout']} held-out photos, mean over folders "
               f"{p['mean_strict']:.1%}; learned from {own['n_learn']} photos in {metrics['train_seconds']:.0f} s")
    typer.echo(f"'not sure' below {p['threshold']:.2f}: answers {p['coverage']:.0%} of held-out photos, "
               f"{p['answered_lenient']:.1%} of them right")
    typer.echo(f"wrote {folder}/: model.keras metrics.json own_data.npz history.json curves.png "
               f"photo_confusion.png; next: fmnist export {folder} --int8")


@app.command()
def evaluate(
    model: Path | None = typer.Argument(None, help="A .keras, .onnx or .tflite model (default: the shipped one)."),
    photos: Path | None = typer.Option(None, "--photos", exists=True, file_okay=False,
                                       help="Also report on real photos (one subfolder per class). Default: the "
                                            "fetched photo set's validation/ (fmnist data fetch --photos), if any."),
    photo_map: Path | None = typer.Option(None, "--photo-map", exists=True, dir_okay=False,
                                          help="JSON {folder: [labels]} (default: the clothing photo set's)."),
    threshold: float | None = typer.Option(None, "--threshold", min=0.0, max=1.0,
                                           help="'not sure' threshold for the photo figures (default: the model's)."),
    as_json: bool = Json,
    data_dir: Path | None = DataDir,
) -> None:
    """Report a model's test-set accuracy, per-class precision/recall/F1 and confusion matrix, and its
    figures on real photos: strict, lenient, per folder, and how often it says 'not sure'.

    Example: fmnist evaluate runs/edge/model.int8.onnx --json

    Example: fmnist evaluate --photos ~/photos/validation   (the shipped model)

    A model trained with --own-labels is judged on its run's held-out photos, and on --photos by folder name.
    """
    from fmnist.core.meta import is_own
    from fmnist.evaluation.evaluate import default_photos
    from fmnist.evaluation.evaluate import evaluate as run
    from fmnist.evaluation.report import render, render_photos
    from fmnist.evaluation.testset import labels_of
    from fmnist.runtime.classifier import default_model

    model = model or default_model()
    own = is_own(labels_of(model))  # no default photo folder fits a model's own labels
    report = run(model, data_dir, photos=photos or (None if own else default_photos()),
                 photo_map=photo_map, threshold=threshold)
    if as_json:
        stdout_json(report)
    else:
        print_rich(*render(report, str(model)), *(render_photos(report["photos"]) if "photos" in report else []))


class CalibMethod(str, enum.Enum):
    minmax = "minmax"
    entropy = "entropy"
    percentile = "percentile"


class Activations(str, enum.Enum):
    int8 = "int8"
    uint8 = "uint8"


@app.command()
def export(
    source: Path = typer.Argument(..., help="A run folder (holding model.keras) or a .keras file."),
    int8: bool = typer.Option(False, "--int8", help="Also write int8 ONNX and (with TFLite) full-integer TFLite."),
    fp16: bool = typer.Option(False, "--fp16", help="Also write an fp16 TFLite."),
    tflite: bool = typer.Option(True, "--tflite/--no-tflite", help="Write TFLite files besides ONNX."),
    calib: int = typer.Option(1000, "--calib", min=10, max=60000,
                              help="Stratified training images used to calibrate int8."),
    calib_method: CalibMethod = typer.Option(CalibMethod.minmax, "--calib-method",
                                             help="ONNX int8 calibration method."),
    per_channel: bool = typer.Option(True, "--per-channel/--no-per-channel",
                                     help="Per-channel int8 weights for ONNX."),
    activations: Activations = typer.Option(Activations.int8, "--activations",
                                            help="ONNX int8 activation type: int8 (S8S8) or uint8 (U8S8)."),
    search: bool = typer.Option(False, "--search",
                                help="With --int8: try a grid of ONNX quantization settings (activation type, "
                                     "per-channel, calibration), gate each, keep the fastest at batch 1."),
    min_agree: float | None = typer.Option(None, "--min-agree", min=0.0,
                                           help="Gate: minimum top-1 agreement with Keras, 0-1 "
                                                "(default 0.999 fp32, 0.99 int8/fp16)."),
    max_drop: float | None = typer.Option(None, "--max-drop", min=0.0,
                                          help="Gate: maximum accuracy drop in percentage points (default 0.5)."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False,
                                    help="Output folder (default: next to the model)."),
    as_json: bool = Json,
    data_dir: Path | None = DataDir,
) -> None:
    """Export a trained model to ONNX and TFLite; every file must pass the parity gate against Keras.

    Writes model.onnx and model.tflite; --int8 adds model.int8.onnx and model.int8.tflite, --fp16 adds
    model.fp16.tflite. Each file runs on the 10,000 test images and is kept only if it agrees with Keras.
    Metadata (labels, input spec, parity figures, source hash) is embedded in every file.

    Example: fmnist export runs/edge --int8

    Example: fmnist export runs/edge --int8 --search   (keep the fastest int8 ONNX that passes)
    """
    from fmnist.export.pipeline import ExportOptions
    from fmnist.export.pipeline import export as run

    opts = ExportOptions(int8=int8, fp16=fp16, tflite=tflite, calib=calib, calib_method=calib_method.value,
                         per_channel=per_channel, activations=activations.value, search=search,
                         min_agree=min_agree, max_drop=max_drop, out=out,
                         data_dir=data_dir, command=command_line())
    from fmnist.core.errors import ParityError
    from fmnist.export.parity import table

    if fp16 and not tflite:
        raise UsageError("--fp16 writes model.fp16.tflite, which --no-tflite turns off; drop one of them")
    if search and not int8:
        raise UsageError("--search picks the int8 ONNX settings; add --int8")

    def show(report: dict[str, Any]) -> None:
        if as_json:
            return stdout_json(report)
        if "int8_search" in report:
            from fmnist.export.search import table as search_table

            print_rich(search_table(report["int8_search"]))
        print_rich(table(report))

    try:
        show(run(source, opts))
    except ParityError as e:  # the table first, with the failing rows and their worst classes
        if e.report:
            show(e.report)
        raise


@app.command()
def info(
    model: Path = typer.Argument(..., help="An exported .onnx or .tflite model."),
    as_json: bool = Json,
) -> None:
    """Print the metadata embedded in an exported model: labels, input spec, parity figures, provenance.

    Example: fmnist info runs/edge/model.int8.onnx --json
    """
    from dataclasses import asdict

    from fmnist.core.errors import ModelError
    from fmnist.core.meta import read_meta

    meta = read_meta(model)
    if meta is None:
        raise ModelError(f"{model} has no fmnist metadata; export it with fmnist export")
    if as_json:
        stdout_json(asdict(meta))
        return
    parity, training = meta.parity, meta.training
    lines = [
        f"[b]{model}[/b] ({meta.precision}), fmnist {meta.fmnist_version}, created {meta.created}",
        f"{len(meta.labels)} labels{' (its own)' if meta.own_labels else ''}: "
        f"{', '.join(f'{i} {name}' for i, name in enumerate(meta.labels))}",
        f"input: {meta.input['name']} {meta.input['shape']} {meta.input['layout']} {meta.input['dtype']}; "
        f"{meta.preprocessing}",
        f"source: sha256 {meta.source_sha256[:16]}…, model {training.get('model', '?')}, " + (
            f"Keras top-1 {training.get('heldout_accuracy', float('nan')):.2%} on held-out photos" if meta.own_labels
            else f"Keras test accuracy {training.get('test_accuracy', float('nan')):.2%}"),
        f"made by: {training.get('command') or '?'}; then {meta.export_command or '?'}",
    ]
    if parity:
        on = f" on {parity['n']} {parity['data']}" if "data" in parity else ""
        lines.append(f"parity{on}: accuracy {parity['accuracy']:.2%} ({parity['accuracy_delta_pp']:+.2f} pp), "
                     f"agreement {parity['agreement']:.2%}, max |Δp| {parity['max_abs_diff']:.1e}, "
                     f"gate {'passed' if parity['passed'] else 'FAILED'}")
    decision = meta.decision
    if decision:
        lines.append(f"not sure below {decision['threshold']:.2f} ({decision.get('rule', '?')}, on "
                     f"{decision.get('chosen_on', '?')}): answers {decision['coverage']:.1%} of mapped photos, "
                     f"{decision['answered_lenient']:.1%} of them right"
                     + ("" if meta.own_labels else f"; unsure on {decision['unsure_unmapped']:.1%} of photos with "
                                                   "no class"))
    else:
        from fmnist.runtime.decision import DEFAULT_THRESHOLD

        lines.append(f"not sure below {DEFAULT_THRESHOLD:.2f} (the default: no threshold was chosen on photos)")
    print_rich("\n".join(lines))


register_runtime_commands(app)


def main() -> None:
    app()
