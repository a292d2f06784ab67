"""`fmnist evaluate` and `fmnist info`: what a model file scores, and what it says about itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fmnist.cli.common import DataDir, Json, print_rich, stdout_json
from fmnist.core.errors import escaped, printable
from fmnist.core.jsonsafe import finite_number
from fmnist.core.meta import ModelMeta
from fmnist.runtime.decision import DEFAULT_THRESHOLD


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(info)


def evaluate(
    model: str | None = typer.Argument(None, help="A .keras, .onnx or .tflite model, or a shipped model's name "
                                                  "(photo, edge; default: the default shipped one)."),
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

    A model of your own classes (fmnist train-own) is judged on its run's held-out photos, and on --photos by
    folder name.
    """
    from fmnist.core.meta import is_own
    from fmnist.evaluation.evaluate import default_photos
    from fmnist.evaluation.evaluate import evaluate as run
    from fmnist.evaluation.photo_figures import PhotoFigures
    from fmnist.evaluation.report import render, render_photos
    from fmnist.evaluation.testset import labels_of
    from fmnist.runtime.shipped import resolve

    model = resolve(model)
    own = is_own(labels_of(model))  # no default photo folder fits a model's own labels
    report = run(model, data_dir, photos=photos or (None if own else default_photos()),
                 photo_map=photo_map, threshold=threshold, skipped=_warn_skipped)
    if as_json:
        stdout_json(report)
    else:
        photos = render_photos(PhotoFigures.from_json(report["photos"])) if "photos" in report else []
        print_rich(*render(report, escaped(model)), *photos)  # a name cannot forge a line


def _warn_skipped(photo: Path, why: str) -> None:
    """A photo left out of the figures, on stderr: never dropped without a word."""
    typer.echo(f"warning: left out of the photo figures: {printable(why, 300)}", err=True)


def info(
    model: str | None = typer.Argument(None, help="An exported .onnx or .tflite model, or a shipped model's name "
                                                  "(photo, edge). Without it: the shipped models, a line each."),
    as_json: bool = Json,
) -> None:
    """Print the metadata embedded in an exported model: labels, input spec, parity figures, provenance.

    Example: fmnist info runs/edge/model.int8.onnx --json

    Example: fmnist info   (the shipped models: what each is for, its size and figures)
    """
    from dataclasses import asdict

    from rich.markup import escape

    from fmnist.core.errors import ModelError
    from fmnist.core.meta import read_meta
    from fmnist.runtime.shipped import resolve

    if model is None:
        _shipped(as_json)
        return
    model = resolve(model)  # type: ignore[assignment]  # a shipped model's name, or a path
    meta = read_meta(model)  # checked: every field of its type, the labels usable, the threshold a probability
    if meta is None:
        raise ModelError(f"{model} has no fmnist metadata; export it with fmnist export")
    if as_json:
        stdout_json(asdict(meta))
        return
    body = "\n".join(shown(line) for line in describe(meta))  # rich markup escaped, control characters too
    print_rich(f"[b]{escape(escaped(model))}[/b]{escape(body)}")  # a name cannot forge a line


def _shipped(as_json: bool) -> None:
    """`fmnist info` alone: each shipped model, the default first, with what its metadata says of it. A missing or
    unreadable one is listed as such and the exit code is 4."""
    from fmnist.core.errors import FmnistError, ModelError
    from fmnist.core.meta import read_meta
    from fmnist.runtime.shipped import DEFAULT, listed

    rows, broken = [], []
    for shipped in listed():
        row: dict[str, Any] = {"name": shipped.name, "default": shipped.name == DEFAULT, "file": str(shipped.path),
                               "about": shipped.about}
        try:
            meta = read_meta(shipped.path) if shipped.path.is_file() else None
            if meta is None:
                raise ModelError("missing, or without fmnist metadata: reinstall fmnist")
        except FmnistError as e:
            broken.append(shipped.name)
            rows.append({**row, "error": str(e)})
            continue
        rows.append({**row, "size_kb": round(shipped.path.stat().st_size / 1024, 1),
                     "test_accuracy": meta.parity.get("accuracy"), "tested_on": meta.parity.get("data"),
                     "photos_lenient": meta.decision.get("lenient"), "threshold": meta.decision.get("threshold")})
    if as_json:
        stdout_json(rows)
    else:
        for row in rows:
            figures = escaped(row["error"]) if "error" in row else (
                f"{row['size_kb']} KB; {_figure(row['test_accuracy'], '.2%')} on {shown(str(row['tested_on']))}, "
                f"{_figure(row['photos_lenient'], '.1%')} of validation photos right, not sure below "
                f"{_figure(row['threshold'], '.2f')}")
            typer.echo(f"{row['name']}{' (default)' if row['default'] else ''}: {row['about']}\n"
                       f"  {escaped(row['file'])}: {figures}")
    if broken:
        raise ModelError(f"shipped model(s) {', '.join(broken)} missing or unreadable; reinstall fmnist")


SHOWN = 400  # characters of one line of metadata `info` prints (a crafted 1 MB word took Rich minutes to wrap)


def shown(line: str) -> str:
    """A metadata line as `info` prints it: control characters (ESC, CR, newlines) as '?', long lines cut."""
    from fmnist.core.errors import printable

    return printable(line, SHOWN)


def describe(meta: ModelMeta) -> list[str]:
    """The lines `fmnist info` prints after the file's name (the first goes on its line); a figure the metadata
    lacks, or holds as anything but a finite number, shows as ?."""
    spec, training = meta.input, meta.training
    return [
        f" ({meta.precision}), fmnist {meta.fmnist_version or '?'}, created {meta.created or '?'}",
        f"{len(meta.labels)} labels{' (its own)' if meta.own_labels else ''}: "
        f"{', '.join(f'{i} {name}' for i, name in enumerate(meta.labels))}",
        f"input: {spec.get('name', '?')} {spec.get('shape', '?')} {spec.get('layout', '?')} {spec.get('dtype', '?')}; "
        f"{meta.preprocessing}",
        _preprocess_line(meta.preprocess),
        _source_line(meta),
        f"made by: {training.get('command') or '?'}; then {meta.export_command or '?'}",
        *_parity_lines(meta.parity),
        _decision_line(meta),
    ]


def _figure(value: object, spec: str) -> str:
    """A metadata figure formatted by `spec`, or ? when it is missing or not a finite number."""
    return format(value, spec) if finite_number(value) else "?"


def _preprocess_line(record: dict[str, Any]) -> str:
    if not record:
        return "preprocessing: not recorded (exported before fmnist recorded it; run as today's)"
    params = ", ".join(f"{k} {v}" for k, v in record.items() if k not in ("version", "output", "steps"))
    return f"preprocessing: version {record.get('version', '?')} ({record.get('steps', '')}; {params})"


def _source_line(meta: ModelMeta) -> str:
    training = meta.training
    accuracy = (f"Keras top-1 {_figure(training.get('heldout_accuracy'), '.2%')} on held-out photos"
                if meta.own_labels else f"Keras test accuracy {_figure(training.get('test_accuracy'), '.2%')}")
    return f"source: sha256 {meta.source_sha256[:16]}…, model {training.get('model', '?')}, {accuracy}"


def _parity_lines(parity: dict[str, Any]) -> list[str]:
    if not parity:
        return []
    on = f" on {parity.get('n', '?')} {parity['data']}" if "data" in parity else ""
    passed = parity.get("passed")
    gate = "passed" if passed is True else "FAILED" if passed is False else "?"
    return [f"parity{on}: accuracy {_figure(parity.get('accuracy'), '.2%')} "
            f"({_figure(parity.get('accuracy_delta_pp'), '+.2f')} pp), "
            f"agreement {_figure(parity.get('agreement'), '.2%')}, "
            f"max |Δp| {_figure(parity.get('max_abs_diff'), '.1e')}, gate {gate}"]


def _decision_line(meta: ModelMeta) -> str:
    decision = meta.decision
    if "threshold" not in decision:
        return f"not sure below {DEFAULT_THRESHOLD:.2f} (the default: no threshold was chosen on photos)"
    unmapped = ("" if meta.own_labels else
                f"; unsure on {_figure(decision.get('unsure_unmapped'), '.1%')} of photos with no class")
    return (f"not sure below {decision['threshold']:.2f} ({decision.get('rule', '?')}, on "
            f"{decision.get('chosen_on', '?')}): answers {_figure(decision.get('coverage'), '.1%')} of mapped photos, "
            f"{_figure(decision.get('answered_lenient'), '.1%')} of them right{unmapped}")
