"""What `fmnist info` says of a model: its metadata (fmnist.core.meta) as lines of text, and each shipped model
with its figures, as text or JSON. Every name and figure comes from the file; a figure the metadata lacks, or
holds as anything but a finite number, shows as ?, and a line is cut and rid of control characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fmnist.core.errors import FmnistError, ModelError, escaped, printable
from fmnist.core.jsonsafe import finite_number
from fmnist.core.meta import ModelMeta, read_meta
from fmnist.runtime.decision import DEFAULT_THRESHOLD
from fmnist.runtime.shipped import DEFAULT, Shipped, listed

SHOWN = 400  # characters of one line of metadata `info` prints (a crafted 1 MB word took Rich minutes to wrap)


def shown(line: str) -> str:
    """A metadata line as `info` prints it: control characters (ESC, CR, newlines) as '?', long lines cut."""
    return printable(line, SHOWN)


def figure(value: object, spec: str) -> str:
    """A metadata figure formatted by `spec`, or ? when it is missing or not a finite number."""
    return format(value, spec) if finite_number(value) else "?"


def describe(meta: ModelMeta) -> list[str]:
    """The lines `fmnist info` prints after the file's name (the first goes on its line)."""
    spec, training = meta.input, meta.training
    return [
        f" ({meta.precision}), fmnist {meta.fmnist_version or '?'}, created {meta.created or '?'}",
        f"{len(meta.labels)} labels{' (its own)' if meta.own_labels else ''}: "
        f"{', '.join(f'{i} {name}' for i, name in enumerate(meta.labels))}",
        f"input: {spec.get('name', '?')} {spec.get('shape', '?')} {spec.get('layout', '?')} {spec.get('dtype', '?')}; "
        f"{meta.preprocessing}",
        preprocess_line(meta.preprocess),
        source_line(meta),
        f"made by: {training.get('command') or '?'}; then {meta.export_command or '?'}",
        *parity_lines(meta.parity),
        decision_line(meta),
    ]


def preprocess_line(record: dict[str, Any]) -> str:
    if not record:
        return "preprocessing: not recorded (exported before fmnist recorded it; run as today's)"
    params = ", ".join(f"{k} {v}" for k, v in record.items() if k not in ("version", "output", "steps"))
    return f"preprocessing: version {record.get('version', '?')} ({record.get('steps', '')}; {params})"


def source_line(meta: ModelMeta) -> str:
    training = meta.training
    accuracy = (f"Keras top-1 {figure(training.get('heldout_accuracy'), '.2%')} on held-out photos"
                if meta.own_labels else f"Keras test accuracy {figure(training.get('test_accuracy'), '.2%')}")
    return f"source: sha256 {meta.source_sha256[:16]}…, model {training.get('model', '?')}, {accuracy}"


def parity_lines(parity: dict[str, Any]) -> list[str]:
    if not parity:
        return []
    on = f" on {parity.get('n', '?')} {parity['data']}" if "data" in parity else ""
    passed = parity.get("passed")
    gate = "passed" if passed is True else "FAILED" if passed is False else "?"
    return [f"parity{on}: accuracy {figure(parity.get('accuracy'), '.2%')} "
            f"({figure(parity.get('accuracy_delta_pp'), '+.2f')} pp), "
            f"agreement {figure(parity.get('agreement'), '.2%')}, "
            f"max |Δp| {figure(parity.get('max_abs_diff'), '.1e')}, gate {gate}"]


def decision_line(meta: ModelMeta) -> str:
    decision = meta.decision
    if "threshold" not in decision:
        return f"not sure below {DEFAULT_THRESHOLD:.2f} (the default: no threshold was chosen on photos)"
    unmapped = ("" if meta.own_labels else
                f"; unsure on {figure(decision.get('unsure_unmapped'), '.1%')} of photos with no class")
    return (f"not sure below {decision['threshold']:.2f} ({decision.get('rule', '?')}, on "
            f"{decision.get('chosen_on', '?')}): answers {figure(decision.get('coverage'), '.1%')} of "
            f"{'held-out' if meta.own_labels else 'mapped'} photos, "
            f"{figure(decision.get('answered_lenient'), '.1%')} of them right{unmapped}")


@dataclass(frozen=True)
class ShippedInfo:
    """One shipped model as `fmnist info` lists it: what it is for and its figures, or why it cannot be read."""

    model: Shipped
    meta: ModelMeta | None = None
    error: str | None = None  # missing or unreadable: reinstall fmnist

    @classmethod
    def read(cls, model: Shipped) -> ShippedInfo:
        try:
            meta = read_meta(model.path) if model.path.is_file() else None
            if meta is None:
                raise ModelError("missing, or without fmnist metadata: reinstall fmnist")
        except FmnistError as e:
            return cls(model, error=str(e))
        return cls(model, meta)

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.model.name, "default": self.model.name == DEFAULT,
                               "file": str(self.model.path), "about": self.model.about}
        if self.meta is None:
            return {**row, "error": self.error}
        parity, decision = self.meta.parity, self.meta.decision
        return {**row, "size_kb": round(self.model.path.stat().st_size / 1024, 1),
                "test_accuracy": parity.get("accuracy"), "tested_on": parity.get("data"),
                "photos_strict": decision.get("strict"), "photos_lenient": decision.get("lenient"),
                "threshold": decision.get("threshold")}

    def text(self) -> str:
        """Two lines: its name and what it is for; its file and figures."""
        row = self.to_json()
        figures = escaped(row["error"]) if "error" in row else (
            f"{row['size_kb']} KB; {figure(row['test_accuracy'], '.2%')} on {shown(str(row['tested_on']))}, "
            f"validation photos {figure(row['photos_strict'], '.1%')} strict, {figure(row['photos_lenient'], '.1%')} "
            "lenient (as its training recorded them), not sure below "
            f"{figure(row['threshold'], '.2f')}")
        return (f"{row['name']}{' (default)' if row['default'] else ''}: {row['about']}\n"
                f"  {escaped(row['file'])}: {figures}")


def shipped_info() -> list[ShippedInfo]:
    """Each shipped model, the default first."""
    return [ShippedInfo.read(model) for model in listed()]


def refuse_unreadable(listed: list[ShippedInfo]) -> None:
    """ModelError (exit 4) naming each shipped model that is missing or unreadable."""
    broken = [row.model.name for row in listed if row.error]
    if broken:
        raise ModelError(f"shipped model(s) {', '.join(broken)} missing or unreadable; reinstall fmnist")
