"""The parity gate: each exported file against the Keras model, on the same images: the model's test set
(fmnist.evaluation.testset: Fashion-MNIST's test images, or an own-label run's held-out photos).

Checks top-1 agreement and the accuracy delta by what the sample can show (fmnist.export.evidence: exact
bounds on the images that changed), reports the per-class accuracy delta, and for fp32 the max |Δp|.
A failure names the file, the output, its dtype and shape, the counts and the threshold it missed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fmnist.core.errors import escaped
from fmnist.core.formats import FLIPS
from fmnist.core.meta import CLASS_NAMES
from fmnist.export.evidence import CONFIDENCE, loss_p_value, rate_lower_bound


@dataclass(frozen=True)
class Thresholds:
    min_agree: float  # top-1 agreement with Keras, as a fraction: fails when the sample shows less
    max_drop_pp: float  # accuracy drop versus Keras, in percentage points: fails when larger and not chance
    max_abs_diff: float | None  # largest |Δp| over all images and classes (fp32 only)
    confidence: float = CONFIDENCE  # of both bounds, one-sided


DEFAULTS = {
    "fp32": Thresholds(min_agree=0.999, max_drop_pp=0.5, max_abs_diff=1e-4),
    "fp16": Thresholds(min_agree=0.99, max_drop_pp=0.5, max_abs_diff=None),
    "int8": Thresholds(min_agree=0.99, max_drop_pp=0.5, max_abs_diff=None),
}


def thresholds_for(precision: str, min_agree: float | None = None, max_drop: float | None = None) -> Thresholds:
    base = DEFAULTS[precision]
    return Thresholds(
        min_agree=base.min_agree if min_agree is None else min_agree,
        max_drop_pp=base.max_drop_pp if max_drop is None else max_drop,
        max_abs_diff=base.max_abs_diff,
    )


@dataclass(frozen=True)
class ParityRow:
    """One exported file against the Keras model. A file whose output has the wrong shape has only the failure."""

    file: str
    precision: str
    passed: bool
    failures: list[str]
    accuracy: float | None = None
    accuracy_delta_pp: float | None = None
    agreement: float | None = None
    flips: dict[str, Any] | None = None  # the counts behind the figures and their bounds (see _flips)
    max_abs_diff: float | None = None
    per_class_delta_pp: dict[str, float] | None = None
    worst_classes: list[dict[str, Any]] | None = None  # the three classes that lost most, [{name, delta_pp}]
    thresholds: dict[str, Any] | None = None
    data: str | None = None  # what the images were (Fashion-MNIST test images, held-out photos)
    n: int | None = None
    size_kb: float | None = None
    quantization: dict[str, Any] | None = None  # int8 ONNX: the settings it was made with

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ParityReport:
    """parity.json: every file of one export against the Keras model, on the same images."""

    source: str
    source_sha256: str
    n_test: int
    created: str
    data: str
    labels: list[str]
    reference_accuracy: float
    fmnist_version: str
    command: str
    files: list[ParityRow]
    calibration: dict[str, Any]  # the images int8 was calibrated on and the ONNX quantization settings
    int8_search: dict[str, Any] | None = None  # export --search: every try and the one kept

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.files)

    @property
    def rejected(self) -> list[str]:
        return [row.file for row in self.files if not row.passed]

    def failures(self) -> list[str]:
        return [f for row in self.files for f in row.failures]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        return out | {"files": [row.to_json() for row in self.files], "passed": self.passed}


def _per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    return np.array([(predicted[labels == c] == c).mean() if (labels == c).any() else 0.0 for c in range(classes)])


@dataclass(frozen=True)
class Flips:
    """The images behind a row's figures: of n, `lost` Keras got right and the file wrong, `gained` the reverse,
    `differ` answered differently at all."""

    n: int
    lost: int
    gained: int
    differ: int

    @classmethod
    def of(cls, predicted: np.ndarray, expected: np.ndarray, labels: np.ndarray) -> Flips:
        right, reference_right = predicted == labels, expected == labels
        return cls(len(labels), int((reference_right & ~right).sum()), int((right & ~reference_right).sum()),
                   int((predicted != expected).sum()))

    def to_json(self, confidence: float) -> dict[str, Any]:
        return {"n": self.n, "lost": self.lost, "gained": self.gained, "differ": self.differ,
                "loss_p": float(f"{loss_p_value(self.lost, self.gained):.3g}"),
                "disagreement_lower_bound": round(rate_lower_bound(self.differ, self.n, confidence), 5),
                "confidence": confidence}


def _failures(where: str, flips: Flips, max_abs_diff: float, limits: Thresholds) -> list[str]:
    failures = []
    allowed = 1.0 - limits.min_agree
    bound = rate_lower_bound(flips.differ, flips.n, limits.confidence)
    if bound > allowed:
        failures.append(f"{where}: top-1 agreement {1 - flips.differ / flips.n:.2%} ({flips.differ} of {flips.n} "
                        f"differ): at {limits.confidence:.0%} confidence at least {bound:.3%} differ, over the "
                        f"{max(allowed, 0):.3%} allowed")
    drop_pp, p = (flips.lost - flips.gained) / flips.n * 100, loss_p_value(flips.lost, flips.gained)
    over = (flips.lost - flips.gained) * 100 > limits.max_drop_pp * flips.n + 1e-9  # counts, not a rounded ratio
    if over and p < 1.0 - limits.confidence:
        failures.append(f"{where}: accuracy drop {drop_pp:.2f} pp > {limits.max_drop_pp:.2f} pp ({flips.lost} right "
                        f"answers lost, {flips.gained} gained, of {flips.n}; chance alone loses that many with "
                        f"p = {max(p, 1e-300):.2g})")
    if limits.max_abs_diff is not None and not max_abs_diff <= limits.max_abs_diff:  # NaN fails too
        failures.append(f"{where}: max |Δp| {max_abs_diff:.2e} > {limits.max_abs_diff:.0e}")
    return failures


def compare(file: str, precision: str, reference: np.ndarray, probs: np.ndarray, labels: np.ndarray,
            limits: Thresholds, names: list[str] | tuple[str, ...] = CLASS_NAMES) -> ParityRow:
    """The parity row of `probs` (N, classes) against the Keras `reference` (N, classes)."""
    if probs.shape != reference.shape:
        failures = [f"{file} output probs {probs.dtype} {probs.shape}: expected shape {reference.shape}"]
        return ParityRow(file, precision, False, failures)
    predicted, expected = probs.argmax(axis=1), reference.argmax(axis=1)
    flips = Flips.of(predicted, expected, labels)
    accuracy, reference_accuracy = float((predicted == labels).mean()), float((expected == labels).mean())
    class_delta = (_per_class_accuracy(predicted, labels, len(names))
                   - _per_class_accuracy(expected, labels, len(names))) * 100
    max_abs_diff = float(np.abs(probs.astype(np.float64) - reference).max())
    failures = _failures(f"{file} output probs {probs.dtype} {probs.shape}", flips, max_abs_diff, limits)
    worst = np.argsort(class_delta, kind="stable")[:3]
    return ParityRow(
        file, precision, not failures, failures,
        accuracy=round(accuracy, 4),
        accuracy_delta_pp=round((accuracy - reference_accuracy) * 100, 2) + 0.0,  # + 0.0: never print "-0.00"
        agreement=round(1 - flips.differ / flips.n, 4),
        flips=flips.to_json(limits.confidence),
        max_abs_diff=float(f"{max_abs_diff:.3g}"),
        per_class_delta_pp={n: round(float(d), 2) + 0.0 for n, d in zip(names, class_delta, strict=True)},
        worst_classes=[{"name": names[i], "delta_pp": round(float(class_delta[i]), 2) + 0.0} for i in worst],
        thresholds=asdict(limits))


COLUMNS = ("file", "precision", "size", "accuracy", "Δ acc pp (lost/gained)", "agreement", "max abs Δp",
           "worst classes (pp)", "gate")


def _cells(row: ParityRow) -> list[str]:
    if row.accuracy is None or row.flips is None:
        return [row.file, row.precision, "", "", "", "", "", "", "FAIL"]
    worst = ", ".join(f"{c['name']} {c['delta_pp']:+.1f}" for c in row.worst_classes or [] if c["delta_pp"] < 0)
    flips = row.flips
    return [row.file, row.precision, f"{row.size_kb or 0:.1f} KB", f"{row.accuracy:.2%}",
            f"{row.accuracy_delta_pp:+.2f} (-{flips['lost']}/+{flips['gained']})", f"{row.agreement:.2%}",
            f"{row.max_abs_diff:.1e}",
            worst or "none", "pass" if row.passed else "FAIL"]


def _heading(report: ParityReport) -> str:
    """The table's title and parity.md's heading: one line, the model's path escaped (a newline or ESC in it)."""
    return (f"Parity against {escaped(report.source)}: Keras accuracy {report.reference_accuracy:.2%} on "
            f"{report.n_test} {escaped(report.data)}")


def markdown(report: ParityReport) -> str:
    """parity.md: the report as a Markdown table."""
    lines = [f"# {_heading(report)}", "", f"fmnist {report.fmnist_version}, {report.created}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * 5 + "---|---|"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report.files]
    failures = report.failures()
    lines += ["", "All files passed the gate." if not failures else "Failures:", *(f"- {f}" for f in failures), "",
              *_counts(report), *_rule(report), *_pictures(report)]
    return "\n".join(lines)


def _counts(report: ParityReport) -> list[str]:
    """The counts behind each row's figures, and the bound and chance the gate judged them by."""
    lines = []
    for row in report.files:
        if f := row.flips:
            lines.append(f"- {row.file}: {f['lost']} right answers lost and {f['gained']} gained, {f['differ']} of "
                         f"{f['n']} answers differ from Keras; at {f['confidence']:.0%} confidence at least "
                         f"{f['disagreement_lower_bound']:.2%} differ; chance alone loses this many with p = "
                         f"{f['loss_p']:.2g}")
    return [*lines, ""] if lines else []


def _rule(report: ParityReport) -> list[str]:
    confidence = next((row.flips["confidence"] for row in report.files if row.flips), CONFIDENCE)
    return [f"Lost / gained: images Keras answered right and the file wrong, and the reverse. A file fails on "
            f"agreement when, at {confidence:.0%} confidence (exact, one-sided), more of its answers differ from "
            "Keras than allowed; on accuracy when it lost more than allowed and chance alone would rarely lose "
            f"that many (exact McNemar, p < {1 - confidence:.2g}). docs/commands.md, \"The parity gate\".", ""]


def _pictures(report: ParityReport) -> list[str]:
    return [f"![{row.file}: the images whose answer changed]({flips_picture(row.file)})\n" for row in report.files
            if row.flips and row.flips["differ"]]


def flips_picture(file: str) -> str:
    """The grid of the images a file answers differently from Keras: model.int8.onnx -> flips-model.int8.onnx.png"""
    return f"{FLIPS}{file}.png"


def table(report: ParityReport) -> Any:
    """The report as a Rich table for the terminal."""
    from rich.table import Table
    from rich.text import Text

    caption = "all files passed the gate" if report.passed else None
    out = Table(title=Text(_heading(report)), caption=caption)  # Text: a path's "[/b]" is no markup
    for column in COLUMNS:
        out.add_column(column, justify="left" if column in ("file", "precision", COLUMNS[-2]) else "right")
    for row in report.files:
        cells = _cells(row)
        cells[-1] = "[green]pass[/]" if row.passed else "[bold red]FAIL[/]"
        out.add_row(*cells)
    return out
