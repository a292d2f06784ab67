"""`fmnist evaluate` and `fmnist info`: what a model file scores, and what it says about itself."""

from __future__ import annotations

from pathlib import Path

import typer

from fmnist.cli.app import add_command
from fmnist.cli.common import DataDir, Json, model_option, old_model_argument, print_rich, stdout_json
from fmnist.cli.deprecated import either
from fmnist.core.errors import escaped, printable


def register(app: typer.Typer) -> None:
    add_command(app, evaluate)
    add_command(app, info)


def evaluate(
    model: str | None = model_option("a .keras, .onnx or .tflite model"),
    old_model: str | None = old_model_argument("evaluate"),
    photos: Path | None = typer.Option(None, "--photos", exists=True, file_okay=False,
                                       help="Also report on real photos (one subfolder per class). Default: the "
                                            "fetched photo set's validation/ (fmnist data fetch photos), if any."),
    photo_map: Path | None = typer.Option(None, "--photo-map", exists=True, dir_okay=False,
                                          help="JSON {folder: [labels]} (default: the clothing photo set's)."),
    threshold: float | None = typer.Option(None, "--threshold", metavar="X", min=0.0, max=1.0,
                                           help="'not sure' threshold for the photo figures (default: the model's)."),
    as_json: bool = Json,
    data_dir: Path | None = DataDir,
) -> None:
    """Report a model's test-set accuracy, per-class precision/recall/F1 and confusion matrix, and its
    figures on real photos: strict, lenient, per folder, and how often it says 'not sure'.

    Example: fmnist evaluate --model runs/edge/model.int8.onnx --json

    The shipped photo model, on a folder of photos:

    Example: fmnist evaluate --photos ~/photos/validation

    A model of your own classes (fmnist train-own) is judged on its run's held-out photos, and on --photos by
    folder name.
    """
    from fmnist.evaluation.evaluate import evaluate as run
    from fmnist.evaluation.report import render
    from fmnist.runtime.shipped import resolve

    path = resolve(either(model, old_model, "--model"))
    report = run(path, data_dir, photos=photos, photo_map=photo_map, threshold=threshold, skipped=_warn_skipped,
                 fetched_photos=True)
    if as_json:
        stdout_json(report)
    else:
        print_rich(*render(report, escaped(path)))  # a name cannot forge a line


def _warn_skipped(photo: Path, why: str) -> None:
    """A photo left out of the figures, on stderr: never dropped without a word."""
    typer.echo(f"warning: left out of the photo figures: {printable(why, 300)}", err=True)


def info(
    model: str | None = model_option("an exported .onnx or .tflite model",
                                     "without it: the shipped models, a line each"),
    old_model: str | None = old_model_argument("info"),
    as_json: bool = Json,
) -> None:
    """Print the metadata embedded in an exported model: labels, input spec, parity figures, provenance.

    Example: fmnist info --model runs/edge/model.int8.onnx --json

    The shipped models, what each is for, its size and figures:

    Example: fmnist info
    """
    from dataclasses import asdict

    from rich.markup import escape

    from fmnist.core.errors import ModelError
    from fmnist.core.meta import read_meta
    from fmnist.runtime.model_info import describe, refuse_unreadable, shipped_info, shown
    from fmnist.runtime.shipped import resolve

    model = either(model, old_model, "--model")
    if model is None:
        listed = shipped_info()
        if as_json:
            stdout_json([row.to_json() for row in listed])
        else:
            for row in listed:
                typer.echo(row.text())
        refuse_unreadable(listed)
        return
    model = resolve(model)  # type: ignore[assignment]  # a shipped model's name, or a path
    meta = read_meta(model)  # checked: every field of its type, the labels usable, the threshold a probability
    if meta is None:
        raise ModelError(f"{model} has no fmnist metadata: fmnist export embeds it in the files that pass its parity "
                         "gate (a .rejected. copy failed it: parity.md says why); export the model with fmnist export")
    if as_json:
        stdout_json(asdict(meta))
        return
    body = "\n".join(shown(line) for line in describe(meta))  # rich markup escaped, control characters too
    print_rich(f"[b]{escape(escaped(model))}[/b]{escape(body)}")  # a name cannot forge a line
