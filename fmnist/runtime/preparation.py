"""Which preprocessing a model was made for, read from its metadata: one `Preparation` per model, looked up in
the registry of kinds (fmnist.runtime.kind explains what a kind owns).

- "cutout" (fmnist.runtime.cutout.CutOut): the object segmented, grey, negated, fit to 28x28. The Fashion-MNIST
  models and the 28x28 own-label tier. A record without a kind is this one.
- "crop" (fmnist.runtime.crop.CentreCrop): the centre square in colour at the model's size. The photo tier.

Training records `Preparation.record()` in the run's metrics.json and export copies it into every file, so
`classify`, `live`, `evaluate` and `bench` pick the same preprocessing without being told.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError, PreprocessMismatch, printable
from fmnist.core.meta import ModelMeta
from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.cutout import CutOut
from fmnist.runtime.kind import Preparation

__all__ = ["CUTOUT", "KINDS", "Preparation", "from_record", "preparation_for", "recorded"]

KINDS: dict[str, type[Preparation]] = {kind.kind: kind for kind in (CutOut, CentreCrop)}
DEFAULT_KIND = CutOut.kind  # a record without a kind (every model before the photo tier)
CUTOUT = CutOut()  # the Fashion-MNIST models'


def from_record(record: dict[str, Any], where: Path | str) -> Preparation:
    """The preparation a preprocessing record describes, every field checked before use: PreprocessMismatch
    (exit 4) for another kind or version, ModelError (exit 4) for a field missing or out of range."""
    if not isinstance(record, dict):
        raise ModelError(f"{where}: its preprocessing record must be a JSON object, got {record!r:.80}")
    name = record.get("kind", DEFAULT_KIND)
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise PreprocessMismatch(f"{where} was made for a preprocessing kind {name!r:.40} this fmnist does not "
                                 "know; use the fmnist release that made it")
    if str(record.get("version")) != kind.version:
        raise PreprocessMismatch(
            f"{where} was made for preprocessing version {printable(record.get('version'))}, but this fmnist "
            f"preprocesses with version {kind.version}, so its labels would be wrong; train and export it again with "
            "this fmnist, or use the fmnist release that made it")
    return kind.from_fields(record, where)


def recorded(record: dict[str, Any] | None, where: Path | str) -> tuple[Preparation, str | None]:
    """The preparation a record (a file's metadata or a run's card) names, and a note when there is none (made
    before fmnist recorded it: taken as today's cut-out)."""
    if not (isinstance(record, dict) and record.get("version")):
        return CUTOUT, (f"note: {where} records no preprocessing version (exported before fmnist recorded it); "
                        f"assuming today's, version {CUTOUT.version}")
    return from_record(record, where), None


def preparation_for(meta: ModelMeta | None, path: Path) -> tuple[Preparation, str | None]:
    """The preparation an exported file's metadata names (see `recorded`)."""
    return recorded(meta.preprocess if meta else None, path)
