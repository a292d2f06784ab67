"""The model-file formats fmnist runs, in one registry: each format's name, its suffix, how its first bytes announce
it, the package it runs on, and where its runner, metadata reader and metadata writer live. No other module tells
formats apart by suffix; they ask `detect` and read the entry.

A file is the format its first bytes announce (TFLite's TFL3 identifier, a Keras file's zip header, an ONNX
model's leading ir_version field); a file whose bytes announce none (empty, sparse, crafted) is taken by its suffix,
and its reader or runner then says what is wrong with it.

The parts are named "module:function" and imported only when used, each by code of its own layer or above: a
reader from fmnist.core (read by core.meta), a runner or opener from fmnist.evaluation or below (run by its
harness, evaluation.predictors), a writer from fmnist.export or below (embedded by export.pipeline). So the runtime
reads an entry without importing TensorFlow, and tests/test_formats.py checks each part's layer.

A new format is one entry here, its parts in one new module, and its build in fmnist.export.targets.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError

HEAD = 8  # bytes read to recognise a format
TFLITE_MAGIC = b"TFL3"  # bytes 4..8 of every .tflite flatbuffer
ZIP_MAGIC = b"PK\x03\x04"  # a .keras file is a zip archive
ONNX_IR_FIELD = 0x08  # protobuf tag of ModelProto.ir_version (field 1, varint), which an ONNX file writes first


def _onnx_head(head: bytes) -> bool:
    """ir_version first, one byte of it (IR versions 3 to 127)."""
    return len(head) >= 2 and head[0] == ONNX_IR_FIELD and 3 <= head[1] < 0x80


@dataclass(frozen=True)
class Format:
    name: str  # how reports, bench rows and messages name it
    suffix: str  # what export names it, and how a file whose bytes announce no format is recognised
    announced: Callable[[bytes], bool]  # whether a file's first HEAD bytes are this format's
    package: str  # the module it runs on (looked up with importlib.util.find_spec before a run)
    install: str  # how to get that package
    loads: str  # the module whose import starts its runtime (imported before a cold start is timed)
    runner: str  # (path, threads) -> predict: one call per batch of any size (timing, the harness)
    opener: str | None = None  # (path, threads) -> predict on any batch; None: the harness calls the runner in steps
    reader: str | None = None  # path -> its string properties, fmnist's metadata under "fmnist"; None: none embedded
    writer: str | None = None  # (raw path, ModelMeta) -> the file's bytes with the metadata; None: not exported
    runtime: bool = False  # fmnist.runtime's Classifier runs it (classify, live, a Pi bundle)
    max_rows: str | None = None  # path -> the most images one call may take within its check's memory bound

    @property
    def exported(self) -> bool:
        """fmnist export writes it, with its metadata: a file to deploy."""
        return self.writer is not None


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("keras", ".keras", lambda head: head[:4] == ZIP_MAGIC, "tensorflow", "pip install 'fmnist[train]'",
           "fmnist.core.tf", runner="fmnist.evaluation.predictors:keras_runner",
           opener="fmnist.evaluation.predictors:keras_opener"),
    Format("onnx", ".onnx", _onnx_head, "onnxruntime", "pip install onnxruntime", "onnxruntime",
           runner="fmnist.evaluation.predictors:onnx_runner", reader="fmnist.core.meta:onnx_props",
           writer="fmnist.export.embed:embed_onnx", runtime=True, max_rows="fmnist.core.session:max_rows"),
    Format("tflite", ".tflite", lambda head: head[4:8] == TFLITE_MAGIC, "ai_edge_litert", "pip install ai-edge-litert",
           "ai_edge_litert.interpreter", runner="fmnist.evaluation.predictors:tflite_runner",
           reader="fmnist.core.meta:tflite_props", writer="fmnist.export.embed:embed_tflite",
           max_rows="fmnist.evaluation.tflite_check:max_rows"),
)}
KERAS = FORMATS["keras"]  # what fmnist trains, and what export converts from
REJECTED = "rejected"  # in the name of a file export's gate failed, kept to look at (rejected_name)


def listing(formats: list[Format] | None = None) -> str:
    """'.keras, .onnx or .tflite': the suffixes of `formats` (default: all), for messages."""
    suffixes = [f.suffix for f in (FORMATS.values() if formats is None else formats)]
    return suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"


def runtime_formats() -> str:
    """The suffixes fmnist.runtime runs, for messages (".onnx")."""
    return listing([f for f in FORMATS.values() if f.runtime])


EXPORT_REPORTS = ("parity.json", "parity.md")  # export's report on one run's files
FLIPS = "flips-"  # flips-<file>.png: the images a file answers differently from Keras


def is_export_output(name: str) -> bool:
    """A plain name (no folder, not hidden) of the kind export writes into a run folder: a model file it converts to
    (.onnx, .tflite, a rejected copy), its report or a flips picture."""
    if name != Path(name).name or name.startswith("."):
        return False
    converted = by_suffix(name)
    return (name in EXPORT_REPORTS or (name.startswith(FLIPS) and name.endswith(".png"))
            or (converted is not None and converted is not KERAS))


def rejected_name(file: str) -> str:
    """The copy export keeps of a file its gate failed: model.int8.onnx -> model.int8.rejected.onnx."""
    stem, _, suffix = file.rpartition(".")
    return f"{stem}.{REJECTED}.{suffix}"


def is_rejected(name: str) -> bool:
    """A name of rejected_name's making: a file that failed the gate, with no metadata."""
    return name.rpartition(".")[0].endswith(f".{REJECTED}")


def by_suffix(path: str | Path) -> Format | None:
    """The format a name's suffix says (any case), or None."""
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS.values() if f.suffix == suffix), None)


def _head(path: Path) -> bytes:
    """A regular file's first HEAD bytes; b"" for anything else (missing; a pipe would block, a folder has none):
    its suffix then decides, and its loader says what is wrong with it."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        with open(path, "rb") as f:
            return f.read(HEAD)
    except OSError:
        return b""


def recognise(path: str | Path) -> Format | None:
    """The format a file's bytes announce, else its suffix's (a missing file's too); None when neither is known."""
    head = _head(Path(path))
    return next((f for f in FORMATS.values() if f.announced(head)), None) or by_suffix(path)


def detect(path: str | Path) -> Format:
    """As `recognise`, but a missing or unknown file is a ModelError that says so."""
    path = Path(path)
    if not os.path.exists(path):
        raise ModelError(f"model {path} does not exist")
    found = recognise(path)
    if found is None:
        raise ModelError(f"cannot use {path} as a model: expected a {listing()} file")
    return found


def part(ref: str) -> Callable[..., Any]:
    """The function a "module:function" reference names, its module imported now (see the module doc)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
