"""`fmnist export`: convert a trained model to every requested format (fmnist.export.targets), gate each file on
parity with Keras, embed the metadata, and only then move it into place.

A file the gate rejects is never written under its good name; an earlier good file stays as it was. A file in the
folder that fmnist did not write is never replaced (fmnist.export.written): export refuses before it builds.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from fmnist import __version__
from fmnist.core.bounded import sha256_file
from fmnist.core.errors import FmnistError, ModelError, ParityError, escaped
from fmnist.core.formats import KERAS, by_suffix, detect, is_export_output, listing, part, rejected_name
from fmnist.core.meta import ModelMeta, read_meta
from fmnist.core.owned import OwnedFolder
from fmnist.data import fashion
from fmnist.data.split import stratified_indices
from fmnist.evaluation.keras_archive import check_keras_zip
from fmnist.evaluation.predictors import keras_predictor, load_keras, open_model
from fmnist.evaluation.run_card import RUN_CARD, RunCard
from fmnist.evaluation.testset import TestSet, test_set_for
from fmnist.export.parity import ParityReport, ParityRow, compare, flips_picture, markdown, thresholds_for
from fmnist.export.search import markdown as search_markdown
from fmnist.export.targets import Built, ExportOptions, Target, targets
from fmnist.export.written import export_folder
from fmnist.runtime.preparation import Preparation

__all__ = ["ExportOptions", "export"]


def resolve_source(source: Path) -> Path:
    """A run folder or a .keras file -> the .keras file."""
    source = Path(source)
    candidate = source / "model.keras" if source.is_dir() else source
    if os.path.lexists(candidate) and not candidate.is_file():  # a pipe, a folder, a link to nothing or to itself
        raise ModelError(f"cannot read {escaped(candidate)}: not a regular file (a folder, a pipe or a device, or a "
                         "link to none)")
    if not candidate.is_file():
        raise ModelError(f"no model at {escaped(candidate)}; pass a run folder holding model.keras or a .keras file "
                         "(make one with fmnist train)")
    if detect(candidate) is not KERAS:
        raise ModelError(f"cannot export {candidate}: fmnist export takes a {KERAS.suffix} model or a run folder")
    check_keras_zip(candidate)  # before it is hashed: a large file that is no model is refused at once (load_keras
    # checks the rest when it loads it)
    return candidate


@dataclass(frozen=True)
class Judge:
    """The images every file is judged on, and the Keras model's answers on them."""

    test: TestSet
    x: np.ndarray  # (N, *input shape) float32: the model's input
    reference: np.ndarray  # (N, labels) Keras probabilities
    opts: ExportOptions
    answers: dict[Path, np.ndarray] = field(default_factory=dict)  # each file judged: its top-1 answers
    rows: dict[tuple[Any, ...], ParityRow] = field(default_factory=dict)  # each file judged, as it was then

    def draw_flips(self, raw: Path, file: str, out: OwnedFolder) -> None:
        """The parity report's picture of the images `file` answers differently from Keras, if any."""
        from fmnist.train.plots import flips

        predicted, expected = self.answers[raw], self.reference.argmax(axis=1)
        if (predicted != expected).any():
            flips(self.test.images, self.test.labels, expected, predicted, self.test.names,
                  out / flips_picture(file), file)

    @property
    def reference_accuracy(self) -> float:
        return round(float((self.reference.argmax(1) == self.test.labels).mean()), 4)

    def gate(self, file: str, precision: str) -> Callable[[Path], ParityRow]:
        limits = thresholds_for(precision, self.opts.min_agree, self.opts.max_drop)

        def check(raw: Path) -> ParityRow:
            found = raw.stat()  # an int8 build gates its file, then export gates what it placed: run it once
            key = (file, precision, raw, found.st_size, found.st_mtime_ns)
            if key not in self.rows:
                probs = open_model(raw)(self.x)
                if probs.shape == self.reference.shape:
                    self.answers[raw] = probs.argmax(axis=1)
                row = compare(file, precision, self.reference, probs, self.test.labels, limits, self.test.names)
                self.rows[key] = replace(row, data=self.test.what, n=len(self.x))
            return self.rows[key]

        return check


@dataclass(frozen=True)
class Provenance:
    """What every exported file's metadata says about where it came from."""

    sha256: str
    card: RunCard | None  # the run's figures, "not sure" threshold and preprocessing travel with the file
    command: str
    created: str

    def meta(self, row: ParityRow, labels: list[str], preparation: Preparation) -> ModelMeta:
        """The metadata of a file that passed (its format's writer adds what only the file knows)."""
        return self._meta(row.precision, row.to_json(), labels, preparation)

    def _meta(self, precision: str, parity: dict[str, Any], labels: list[str], preparation: Preparation) -> ModelMeta:
        card = self.card
        return ModelMeta(precision=precision, source_sha256=self.sha256, labels=labels,
                         input=preparation.input_spec(), preprocessing=preparation.prose,
                         preprocess=preparation.record(),
                         training=card.training_summary() if card else {}, parity=parity,
                         decision=card.decision if card else {}, export_command=self.command,
                         fmnist_version=__version__, created=self.created)

    def check(self, labels: list[str], preparation: Preparation) -> None:
        """Refuse (ModelError), before anything is built, a run card whose figures the exported files' readers would
        refuse (a NaN threshold, a command of megabytes): export would write files that classify cannot open."""
        if self.card is None:
            return
        try:
            ModelMeta.from_json(self._meta("fp32", {}, labels, preparation).to_json(), self.card.folder / RUN_CARD)
        except ModelError as e:
            raise ModelError(f"{str(e).rsplit('; ', 1)[0]}: the files exported from this run would carry it, and "
                             f"fmnist would refuse them; fix {RUN_CARD} or train the run again") from None


def _calibration(test: TestSet, opts: ExportOptions) -> np.ndarray:
    """int8 calibration images, as model input: the run's training photos (own labels) or stratified training
    images."""
    if test.calib is not None:
        return test.inputs(test.calib[: opts.calib])
    train = fashion.load_split("train", opts.data_dir)
    return test.inputs(train.images[stratified_indices(train.labels, opts.calib, seed=0)])


def _place(out: OwnedFolder, target: Target, raw: Path, row: ParityRow, origin: Provenance, labels: list[str],
           preparation: Preparation) -> None:
    """A passing file gets its metadata and its name; a failing one is kept under a name no loader takes."""
    if not row.passed:
        out.write_bytes(rejected_name(target.file), raw.read_bytes())
        return
    found = by_suffix(target.file)  # export names each file with its format's suffix
    if found is None or found.writer is None:
        raise ModelError(f"export has no metadata writer for {target.file}; name it with a {listing()} suffix")
    out.write_bytes(target.file, part(found.writer)(raw, origin.meta(row, labels, preparation)))


def _build(target: Target, raw: Path) -> Built:
    """The target's file at `raw` (in the export's temporary folder); a full disk there is one error line."""
    try:
        return target.build(raw)
    except OSError as e:  # the converters and onnxruntime's quantizer write their files themselves
        # onnxruntime's quantizer also writes into the system's temp folder
        where = e.filename or f"{raw.parent.parent} or the temp folder {tempfile.gettempdir()}"
        raise FmnistError(f"cannot write {target.file} ({where}): {e.strerror or e}; free some space there") from e


def _write_files(model: Any, judge: Judge, calib: np.ndarray, out: OwnedFolder, origin: Provenance,
                 console: Console) -> tuple[list[ParityRow], Built]:
    """Build, gate and place every target; returns the rows and what the int8 ONNX build did."""
    rows, int8_onnx = [], Built()
    what = f"{len(judge.x)} {judge.test.what}"
    with tempfile.TemporaryDirectory(prefix=".fmnist-export-", dir=out.folder) as tmp, \
            Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("exporting", total=None)
        todo = targets(model, judge.opts, calib, Path(tmp), judge.gate, lambda text: bar.update(task, description=text))
        bar.update(task, total=2 * len(todo))
        for target in todo:
            raw = Path(tmp) / target.file
            bar.update(task, description=f"converting {target.file}")
            built = _build(target, raw)
            bar.update(task, advance=1, description=f"checking {target.file} on {what}")
            row = replace(judge.gate(target.file, target.precision)(raw), size_kb=round(raw.stat().st_size / 1024, 1),
                          quantization=built.quantization)
            if target.file == "model.int8.onnx":
                int8_onnx = built
            rows.append(row)
            _place(out, target, raw, row, origin, judge.test.names, judge.test.preparation)
            if raw in judge.answers:
                judge.draw_flips(raw, target.file, out)
            bar.update(task, advance=1)
    return rows, int8_onnx


def _with_model_defaults(opts: ExportOptions, preparation: Preparation) -> ExportOptions:
    """The int8 settings the user left open, filled with the defaults for this kind of model."""
    chosen = (opts.calib_method is not None or opts.activations is not None or opts.float_convs is not None
              or not opts.per_channel)
    float_convs = preparation.int8_float_convs if opts.float_convs is None else opts.float_convs
    return replace(opts, calib_method=opts.calib_method or preparation.int8_method,
                   activations=opts.activations or preparation.int8_activations, float_convs=float_convs,
                   fallback=not chosen)


def _judge(keras_path: Path, test: TestSet, opts: ExportOptions) -> tuple[Any, Judge]:
    opts = _with_model_defaults(opts, test.preparation)
    x = test.inputs()
    model = load_keras(keras_path)
    return model, Judge(test, x, keras_predictor(model)(x), opts)


def _write_report(out: OwnedFolder, report: ParityReport) -> None:
    out.write_json("parity.json", report.to_json())
    search_lines = search_markdown(report.int8_search) if report.int8_search else []
    out.write_bytes("parity.md", "\n".join([markdown(report), *search_lines]).encode())


def _note_other_models(out: OwnedFolder, written: set[str], sha256: str) -> None:
    """Say (stderr) which model files an earlier export of another .keras file left in `out` that this one did not
    replace (model.fp16.tflite when this export has no --fp16): parity.json no longer lists them, and bench --run
    or a glob would take them for this model's. Nothing is removed."""
    def another_model(name: str) -> bool:
        found = by_suffix(name)
        if name in written or found is None or found.reader is None:
            return False
        try:
            meta = read_meta(out.folder / name)
        except (FmnistError, OSError, ValueError):
            return False
        return meta is not None and meta.source_sha256 != sha256

    others = out.recorded(lambda name: is_export_output(name) and another_model(name))
    if others:
        it = "it" if len(others) == 1 else "them"
        print(f"note: {escaped(out.folder)} also holds {', '.join(escaped(n) for n in others)}, exported earlier from "
              f"another model: this export did not replace {it}, and parity.json does not list {it}; remove {it}, or "
              "export again with the options that write " + it + " (--int8, --fp16)", file=sys.stderr)


def export(source: Path, opts: ExportOptions, console: Console | None = None) -> ParityReport:
    """Export, gate and write. Returns the parity report; raises ParityError if any file failed the gate."""
    opts.check()
    keras_path = resolve_source(source)
    out = Path(opts.out or keras_path.parent)
    folder = export_folder(out, opts, keras_path)  # before anything is built: a file of the user's there is refused
    origin = Provenance(sha256_file(keras_path), RunCard.read(keras_path.parent),
                        opts.command, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    test = test_set_for(keras_path, opts.data_dir)  # own labels: the run's held-out photos
    origin.check(test.names, test.preparation)  # before Keras loads the model
    model, judge = _judge(keras_path, test, opts)
    opts = judge.opts
    calib = _calibration(judge.test, opts)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a folder that takes none though it looked writable (/proc as root)
        raise FmnistError(f"cannot make --out {out}: {e.strerror or e}; choose a folder you can write in") from e
    rows, int8_onnx = _write_files(model, judge, calib, folder, origin,
                                   console or Console(stderr=True))
    settings = int8_onnx.quantization or {"method": opts.calib_method, "per_channel": opts.per_channel,
                                          "activations": opts.activations, "float_convs": opts.float_convs}
    report = ParityReport(
        source=str(keras_path), source_sha256=origin.sha256, n_test=len(judge.x), created=origin.created,
        data=judge.test.what, labels=judge.test.names, reference_accuracy=judge.reference_accuracy,
        fmnist_version=__version__, command=opts.command, files=rows,
        calibration={"images": len(calib), **settings}, int8_search=int8_onnx.search)
    _write_report(folder, report)
    _note_other_models(folder, {row.file for row in rows}, origin.sha256)
    if not report.passed:
        kept = ", ".join(rejected_name(name) for name in report.rejected)
        raise ParityError(f"parity gate failed: {'; '.join(report.failures())}. Not written under their names; kept "
                          f"without metadata as {kept} in {out} for inspection (see parity.md). Loosen the gate "
                          "with --min-agree/--max-drop only if you accept the difference", report)
    return report
