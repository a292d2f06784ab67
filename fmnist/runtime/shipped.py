"""The models fmnist ships in fmnist/assets, by name, so `--model photo` (the default) and `--model edge` work
right after `pip install fmnist`, with no training and no TensorFlow; any other `--model` value is a path to a .onnx
file. `make model` builds them (docs/model.md). A new shipped model is one line in SHIPPED and its file in the
assets."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fmnist.core.errors import ModelError, printable
from fmnist.core.formats import by_suffix, is_rejected


@dataclass(frozen=True)
class Shipped:
    name: str
    file: str  # in fmnist/assets
    about: str  # what it is for, in a phrase

    @property
    def path(self) -> Path:
        return Path(str(resources.files("fmnist") / "assets" / self.file))


SHIPPED: dict[str, Shipped] = {m.name: m for m in (
    Shipped("photo", "photo.int8.onnx", "EfficientNet-Lite0 on the colour centre square at 160 px, int8: "
                                        "Fashion-MNIST's labels, made for real photos"),
    Shipped("edge", "edge.int8.onnx", "the 28x28 cut-out, int8: Fashion-MNIST's labels, the fastest on a Pi"),
)}
DEFAULT = "photo"


def listed() -> list[Shipped]:
    """The shipped models, the default first."""
    return sorted(SHIPPED.values(), key=lambda m: m.name != DEFAULT)


def resolve(model: str | Path | None) -> Path:
    """A shipped model's name (None: the default) or a path -> the .onnx file."""
    if model is None or str(model) in SHIPPED:
        shipped = SHIPPED[DEFAULT if model is None else str(model)]
        if not shipped.path.is_file():
            raise ModelError(f"the shipped model {shipped.name} ({shipped.path}) is missing; reinstall fmnist, or "
                             "pass --model PATH")
        return shipped.path
    path = Path(model)
    if os.path.isdir(path):
        raise ModelError(_folder_advice(path))
    if not os.path.exists(path) and not path.suffix:  # os.path: a name too long for the system is no file, not a crash
        raise ModelError(f"--model {model}: no such file, and no shipped model of that name (shipped: "
                         f"{', '.join(SHIPPED)}); give a shipped model's name or a model file")
    return path


def _folder_advice(folder: Path, most: int = 1000) -> str:
    """What to pass instead of a folder: the model files in it (of its first `most` names; hidden ones, such as an
    unfinished write's, left out), an .onnx file the runtime runs first and suggested, a copy the gate rejected
    last and never suggested."""
    shown = printable(folder, 200)
    try:
        with os.scandir(folder) as entries:
            names = [e.name for _, e in zip(range(most + 1), entries, strict=False)]
    except OSError as e:
        return f"--model {shown} is a folder, and cannot be listed ({e.strerror or e}); name a model file"
    looked = f" among its first {most:,} names" if len(names) > most else ""
    models = sorted((is_rejected(name), not found.runtime, name) for name in names[:most]
                    if not name.startswith(".") and (found := by_suffix(name)) is not None)
    if not models:
        return f"--model {shown} is a folder, with no model file{looked} in it; name a model file"
    held = ", ".join(printable(name, 80) for *_, name in models[:4]) + (" …" if len(models) > 4 else "")
    rejected, other, first = models[0]
    best = str(folder / first)
    if rejected or other or printable(best, 300) != best:
        return f"--model {shown} is a folder; name a model file (it holds{looked} {held})"
    return f"--model {shown} is a folder; name a model file in it, e.g. --model {shlex.quote(best)} (it holds {held})"


def name_of(path: Path) -> str | None:
    """The shipped name of a model file, if it is one of them."""
    return next((m.name for m in SHIPPED.values() if m.path.is_file() and path.resolve() == m.path.resolve()), None)
