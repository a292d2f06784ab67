"""Fashion-MNIST's class names, the label rules every model follows, and the metadata embedded in exported files
(each model's labels, input spec and preprocessing: fmnist.runtime.kind).

The metadata is one JSON object stored under the key `fmnist`: in ONNX `metadata_props`, and in the
TFLite flatbuffer's `metadata` table. This module is the one reader; it runs without TensorFlow
(ONNX through onnxruntime, TFLite through the flatbuffers schema that ai-edge-litert ships).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError
from fmnist.core.formats import FORMATS, TFLITE_MAGIC, detect, listing, part
from fmnist.core.jsonsafe import dumps, finite_share

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)  # Fashion-MNIST's; a model of your own classes has 2..50 (its metadata's labels)
MIN_LABELS, MAX_LABELS = 2, 50


def check_labels(labels: object, where: str) -> list[str]:
    """A model's label list: 2 to 50 distinct, non-empty names. ModelError otherwise."""
    if not (isinstance(labels, list) and all(isinstance(x, str) and x.strip() for x in labels)):
        raise ModelError(f"{where}: labels must be a list of names, got {labels!r:.120}")
    if any(not ch.isprintable() for x in labels for ch in x):  # ESC, CR, tabs: they would rewrite the terminal
        raise ModelError(f"{where}: labels must be printable names, got {labels!r:.120}")
    if not MIN_LABELS <= len(labels) <= MAX_LABELS:
        raise ModelError(f"{where}: {len(labels)} labels; a model has {MIN_LABELS} to {MAX_LABELS}")
    if printing_alike(labels):
        raise ModelError(f"{where}: labels repeat a name: {labels!r:.120}")
    return labels


def same_name(label: str) -> str:
    """A label as it prints: two labels with one same_name are one name ("café", "cafe\u0301" and "café ")."""
    return unicodedata.normalize("NFC", label.strip())


def printing_alike(names: Sequence[str]) -> str:
    """The first two of `names` that are one name by same_name, each as ascii() shows it (so that "caf\\xe9" and
    "cafe\\u0301" differ on screen); "" if no two are."""
    seen: dict[str, str] = {}
    for name in names:
        if same_name(name) in seen:
            return f"{seen[same_name(name)]!a} and {name!a}"
        seen[same_name(name)] = name
    return ""


def is_own(labels: list[str] | tuple[str, ...]) -> bool:
    """Labels of your own classes, not Fashion-MNIST's ten: Fashion-MNIST's test set and figures do not apply."""
    return list(labels) != list(CLASS_NAMES)

IMAGE_SIZE = 28  # Fashion-MNIST's side, and the cut-out's; a photo-tier model's is its crop's size (its metadata)
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)  # one image for a registry model (fmnist train)
# every model's input entry starts so; its preprocessing kind (fmnist.runtime.kind) adds shape, scale and range
INPUT_BASE: dict[str, Any] = {"name": "image", "layout": "NHWC", "dtype": "float32"}

META_KEY = "fmnist"
# a file's metadata is a few KB, 4 levels deep: anything past these is not fmnist's (and deep nesting would
# exhaust the parser's recursion)
MAX_META_CHARS = 1_000_000
MAX_META_DEPTH = 32
# entries in a TFLite file's metadata table: the converter writes 2 or 3 (min_runtime_version, CONVERSION_METADATA,
# reduced_precision_support) and export adds fmnist's; a crafted table may repeat one 20 MB entry millions of times
MAX_TFLITE_ENTRIES = 64
TEXT_FIELDS = ("precision", "source_sha256", "preprocessing", "export_command", "fmnist_version", "created")
RECORD_FIELDS = ("input", "preprocess", "training", "parity", "decision")  # JSON objects


@dataclass
class ModelMeta:
    """The self-description every exported model carries."""

    precision: str  # "fp32", "fp16" or "int8"
    source_sha256: str  # of the .keras file it was exported from
    labels: list[str] = field(default_factory=lambda: list(CLASS_NAMES))  # or your own classes' folder names
    input: dict[str, Any] = field(default_factory=dict)  # the preprocessing kind's input_spec()
    preprocessing: str = ""  # the kind's prose
    # {"version": …, parameters…}: what the model's preprocessing kind did to the photos it learned from and
    # will be given; the runtime refuses another version. {} in files exported before it was recorded.
    preprocess: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)  # model, command, test or held-out accuracy, recipe, …
    parity: dict[str, Any] = field(default_factory=dict)  # this file's figures against the Keras model
    decision: dict[str, Any] = field(default_factory=dict)  # the "not sure" threshold and the trade-off it gives
    export_command: str = ""  # how this file was made (the training command is in `training`)
    fmnist_version: str = ""
    created: str = ""

    def to_json(self) -> str:
        return dumps(asdict(self), sort_keys=True)  # strict JSON: a NaN figure is written as null

    @classmethod
    def from_json(cls, text: str, source: Path) -> ModelMeta:
        """The metadata a file carries, every field checked before use; ModelError (one line) otherwise."""
        where = f"{source} metadata"
        raw = parse_meta(text, source)
        missing = [name for name in ("precision", "source_sha256") if name not in raw]
        if missing:
            raise ModelError(f"{where} lacks {', '.join(missing)}; re-export it with fmnist export")
        meta = cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        check_fields(meta, where)
        return meta

    @property
    def own_labels(self) -> bool:
        return is_own(self.labels)


def parse_meta(text: str, source: Path) -> dict[str, Any]:
    """The metadata string -> a JSON object, refused (ModelError) when too large, too deep or not an object."""
    fix = "re-export it with fmnist export"
    if len(text) > MAX_META_CHARS:
        raise ModelError(f"{source} has {len(text):,} characters of fmnist metadata, over the limit of "
                         f"{MAX_META_CHARS:,}; {fix}")
    too_deep = ModelError(f"{source} has fmnist metadata nested over {MAX_META_DEPTH} levels deep; {fix}")
    try:
        raw = json.loads(text)
    except RecursionError:  # deeper than the parser goes
        raise too_deep from None
    except ValueError as e:
        raise ModelError(f"{source} has unreadable fmnist metadata ({e}); {fix}") from None
    if nesting(raw, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise too_deep
    if not isinstance(raw, dict):
        raise ModelError(f"{source} has fmnist metadata that is a JSON {type(raw).__name__}, not an object; {fix}")
    return raw


def nesting(value: object, limit: int) -> int:
    """How deep lists and objects nest in a parsed JSON value (a scalar: 0, {}: 1); counts stop past `limit`."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def check_fields(meta: ModelMeta, where: str) -> None:
    """Each field of the type it is read as; the labels usable; the decision threshold a probability."""
    for name in TEXT_FIELDS + RECORD_FIELDS:
        value, kind = getattr(meta, name), str if name in TEXT_FIELDS else dict
        if not isinstance(value, kind):
            raise ModelError(f"{where}: {name} must be {'text' if kind is str else 'a JSON object'}, got "
                             f"{value!r:.80}; re-export it with fmnist export")
    check_labels(meta.labels, where)
    if "threshold" in meta.decision:
        check_threshold(meta.decision["threshold"], where)


def check_threshold(value: object, where: str) -> float:
    """A "not sure" threshold: a finite number in [0, 1]."""
    if not finite_share(value):
        raise ModelError(f"{where}: the decision threshold {value!r:.40} is not a number in [0, 1]; train and "
                         "export it again with fmnist")
    return float(value)  # type: ignore[arg-type]


def onnx_props(path: Path) -> dict[str, str]:
    from fmnist.core.session import make_session, model_props

    return model_props(make_session(path), path)


def tflite_props(path: Path) -> dict[str, str]:
    from fmnist.core.session import read_model

    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as e:
        raise ModelError(f"reading {path} needs ai-edge-litert: pip install ai-edge-litert") from e
    buf = read_model(path)  # its size checked before it is read, as an .onnx file's
    if buf[4:8] != TFLITE_MAGIC:
        raise ModelError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier)")
    try:  # a crafted flatbuffer's offsets point anywhere: the generated reader raises struct.error and others
        return _tflite_entries(schema.Model.GetRootAs(buf, 0), path)
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(f"{path} is not a readable TFLite model ({type(e).__name__}); re-export it with "
                         "fmnist export") from None


def _tflite_entries(model: Any, path: Path) -> dict[str, str]:
    """{"fmnist": its text} from the flatbuffer's metadata table, or {}: at most MAX_TFLITE_ENTRIES entries, read up
    to the first of fmnist's (the converter's own entries are binary: only their names are read)."""
    count = model.MetadataLength()
    if count > MAX_TFLITE_ENTRIES:
        raise ModelError(f"{path} has {count:,} metadata entries, over the {MAX_TFLITE_ENTRIES} a TFLite model may "
                         "hold; re-export it with fmnist export")
    for i in range(count):
        entry = model.Metadata(i)
        if entry.Name() == META_KEY.encode():
            return {META_KEY: _tflite_text(model.Buffers(entry.Buffer()), path)}
    return {}


def _tflite_text(buffer: Any, path: Path) -> str:
    """fmnist's metadata buffer as text, its length checked before a byte is copied: fmnist writes it as ASCII JSON
    (a byte a character), so MAX_META_CHARS bounds its bytes too."""
    size = buffer.DataLength()
    if size > MAX_META_CHARS:
        raise ModelError(f"{path} has {size:,} bytes of fmnist metadata, over the limit of {MAX_META_CHARS:,}; "
                         "re-export it with fmnist export")
    return buffer.DataAsNumpy().tobytes().decode("utf-8", "replace") if size else ""


def read_meta(path: Path) -> ModelMeta | None:
    """The fmnist metadata of a model file whose format embeds it (fmnist.core.formats: .onnx, .tflite), or None
    when it has none."""
    path = Path(path)
    found = detect(path)
    if found.reader is None:
        embedding = listing([f for f in FORMATS.values() if f.reader])
        raise ModelError(f"{path} is a {found.name} model, which carries no fmnist metadata; export it with fmnist "
                         f"export (its {embedding} files carry it)")
    return meta_from_props(part(found.reader)(path), path)


def meta_from_props(props: dict[str, str], source: Path) -> ModelMeta | None:
    """ModelMeta from a model's string properties (ONNX metadata_props), or None without fmnist's key."""
    return ModelMeta.from_json(props[META_KEY], source) if META_KEY in props else None
