"""The parity gate: each exported file against the Keras model, on the same test images.

Checks top-1 agreement, the accuracy delta, the per-class accuracy delta and (fp32) the max |Δp|.
A failure names the file, the output, its dtype and shape, and the threshold it missed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fmnist.core.meta import CLASS_NAMES


@dataclass(frozen=True)
class Thresholds:
    min_agree: float  # top-1 agreement with Keras, as a fraction
    max_drop_pp: float  # accuracy drop versus Keras, in percentage points
    max_abs_diff: float | None  # largest |Δp| over all images and classes (fp32 only)


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


def _per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    return np.array([(predicted[labels == c] == c).mean() if (labels == c).any() else 0.0 for c in range(classes)])


def compare(file: str, precision: str, reference: np.ndarray, probs: np.ndarray, labels: np.ndarray,
            limits: Thresholds, names: list[str] | tuple[str, ...] = CLASS_NAMES) -> dict[str, Any]:
    """One row of the parity report for `probs` (N, classes) against the Keras `reference` (N, classes)."""
    if probs.shape != reference.shape:
        failures = [f"{file} output probs {probs.dtype} {probs.shape}: expected shape {reference.shape}"]
        return {"file": file, "precision": precision, "passed": False, "failures": failures}
    predicted, expected = probs.argmax(axis=1), reference.argmax(axis=1)
    agreement = float((predicted == expected).mean())
    accuracy, reference_accuracy = float((predicted == labels).mean()), float((expected == labels).mean())
    drop_pp = (reference_accuracy - accuracy) * 100
    classes = len(names)
    class_delta = (_per_class_accuracy(predicted, labels, classes)
                   - _per_class_accuracy(expected, labels, classes)) * 100
    max_abs_diff = float(np.abs(probs.astype(np.float64) - reference).max())

    where = f"{file} output probs {probs.dtype} {probs.shape}"
    failures = []
    if agreement < limits.min_agree:
        failures.append(f"{where}: top-1 agreement {agreement:.2%} < {limits.min_agree:.2%}")
    if drop_pp > limits.max_drop_pp:
        failures.append(f"{where}: accuracy drop {drop_pp:.2f} pp > {limits.max_drop_pp:.2f} pp")
    if limits.max_abs_diff is not None and max_abs_diff > limits.max_abs_diff:
        failures.append(f"{where}: max |Δp| {max_abs_diff:.2e} > {limits.max_abs_diff:.0e}")
    worst = np.argsort(class_delta, kind="stable")[:3]
    return {
        "file": file,
        "precision": precision,
        "accuracy": round(accuracy, 4),
        "accuracy_delta_pp": round(-drop_pp, 2) + 0.0,  # + 0.0: never print "-0.00"
        "agreement": round(agreement, 4),
        "max_abs_diff": float(f"{max_abs_diff:.3g}"),
        "per_class_delta_pp": {n: round(float(d), 2) + 0.0 for n, d in zip(names, class_delta, strict=True)},
        "worst_classes": [{"name": names[i], "delta_pp": round(float(class_delta[i]), 2) + 0.0} for i in worst],
        "thresholds": asdict(limits),
        "passed": not failures,
        "failures": failures,
    }


COLUMNS = ("file", "precision", "size", "accuracy", "Δ acc (pp)", "agreement", "max abs Δp", "worst classes (pp)",
           "gate")


def _cells(row: dict[str, Any]) -> list[str]:
    if "accuracy" not in row:
        return [row["file"], row["precision"], "", "", "", "", "", "", "FAIL"]
    worst = ", ".join(f"{c['name']} {c['delta_pp']:+.1f}" for c in row["worst_classes"] if c["delta_pp"] < 0) or "none"
    return [row["file"], row["precision"], f"{row.get('size_kb', 0):.1f} KB", f"{row['accuracy']:.2%}",
            f"{row['accuracy_delta_pp']:+.2f}", f"{row['agreement']:.2%}", f"{row['max_abs_diff']:.1e}",
            worst, "pass" if row["passed"] else "FAIL"]


def _heading(report: dict[str, Any]) -> str:
    return (f"Parity against {report['source']}: Keras accuracy {report['reference_accuracy']:.2%} on "
            f"{report['n_test']} {report.get('data', 'test images')}")


def _failures(report: dict[str, Any]) -> list[str]:
    return [f for row in report["files"] for f in row["failures"]]


def markdown(report: dict[str, Any]) -> str:
    """parity.md: the report as a Markdown table."""
    lines = [f"# {_heading(report)}", "", f"fmnist {report['fmnist_version']}, {report['created']}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * 5 + "---|---|"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report["files"]]
    failures = _failures(report)
    lines += ["", "All files passed the gate." if not failures else "Failures:", *(f"- {f}" for f in failures), ""]
    return "\n".join(lines)


def table(report: dict[str, Any]) -> Any:
    """The report as a Rich table for the terminal."""
    from rich.table import Table

    out = Table(title=_heading(report), caption="all files passed the gate" if not _failures(report) else None)
    for column in COLUMNS:
        out.add_column(column, justify="left" if column in ("file", "precision", COLUMNS[-2]) else "right")
    for row in report["files"]:
        cells = _cells(row)
        cells[-1] = "[green]pass[/]" if row["passed"] else "[bold red]FAIL[/]"
        out.add_row(*cells)
    return out
