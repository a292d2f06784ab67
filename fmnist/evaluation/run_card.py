"""A run folder's card: the metrics.json that `fmnist train` and `fmnist train-own` write, read in one place.

Evaluation reads a .keras model's labels and "not sure" threshold from it, export copies its training figures,
decision and preprocessing record into every exported file, and the CLI prints it after training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmnist.core.bounded import read_bounded
from fmnist.core.errors import ModelError
from fmnist.core.meta import CLASS_NAMES, check_labels, is_own
from fmnist.evaluation.photo_figures import PhotoFigures

RUN_CARD = "metrics.json"
MAX_CARD_BYTES = 10_000_000  # a run card is tens of KB; a file beside a model is anyone's
# what an exported file's metadata keeps of its run (`training`)
TRAINING_KEYS = ("model", "command", "params", "test_accuracy", "val_accuracy", "train_seconds", "config", "recipe",
                 "versions", "own_labels", "heldout_accuracy")


@dataclass(frozen=True)
class RunCard:
    folder: Path
    model: str  # the registry name, or "<backbone> + own head"
    command: str
    params: int
    train_seconds: float
    labels: list[str]  # Fashion-MNIST's ten, or the run's own
    test_accuracy: float | None  # on the Fashion-MNIST test set (None for own labels)
    heldout_accuracy: float | None  # on the run's held-out photos (own labels only)
    photos: PhotoFigures | None  # on --photos-val or the held-out photos
    decision: dict[str, Any]  # the "not sure" threshold and what it gives ({} without photos to choose it on)
    preprocess: dict[str, Any]  # the preprocessing record ({} for runs made before it was recorded)
    metrics: dict[str, Any]  # the whole file, as written

    @property
    def own(self) -> bool:
        return is_own(self.labels)

    @property
    def threshold(self) -> float | None:
        value = self.decision.get("threshold")
        return float(value) if isinstance(value, int | float) else None

    def training_summary(self) -> dict[str, Any]:
        """What an exported file's metadata keeps of this run."""
        return {k: self.metrics[k] for k in TRAINING_KEYS if k in self.metrics}

    @classmethod
    def from_metrics(cls, folder: Path, metrics: dict[str, Any]) -> RunCard:
        where = str(Path(folder) / RUN_CARD)
        try:
            labels = check_labels(metrics["labels"], where) if "labels" in metrics else list(CLASS_NAMES)
            photos = PhotoFigures.from_json(metrics["photos"]) if "photos" in metrics else None
            return cls(Path(folder), str(metrics.get("model", "?")), str(metrics.get("command", "")),
                       int(metrics.get("params", 0)), float(metrics.get("train_seconds", 0.0)), labels,
                       metrics.get("test_accuracy"), metrics.get("heldout_accuracy"), photos,
                       dict(metrics.get("decision") or {}), dict(metrics.get("preprocess") or {}), metrics)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{where} is not a run card fmnist can read ({type(e).__name__}: {e}); train the "
                             "run again") from e

    @classmethod
    def read(cls, folder: Path) -> RunCard | None:
        """The card of a run folder, or None when it has no metrics.json (a .keras file made elsewhere)."""
        path = Path(folder) / RUN_CARD
        if not path.is_file():
            return None
        try:
            metrics = json.loads(read_bounded(path, MAX_CARD_BYTES, "a run card may take", ModelError,
                                              "train the run again"))
        except (OSError, ValueError, RecursionError) as e:
            raise ModelError(f"cannot read {path} ({e}); train the run again") from e
        if not isinstance(metrics, dict):
            raise ModelError(f"{path} is not a JSON object; train the run again")
        return cls.from_metrics(Path(folder), metrics)
