"""`fmnist evaluate MODEL`: the full test-set report for a saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmnist import data
from fmnist.errors import ModelError
from fmnist.train.report import classification_report

SUPPORTED = (".keras",)


def load_keras(path: Path) -> Any:
    from fmnist.train._deps import keras

    if not path.is_file():
        raise ModelError(f"model {path} does not exist; train one with: fmnist train --out {path.parent}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors… for a bad file
        raise ModelError(f"cannot load {path} as a Keras model ({type(e).__name__}: {e}); "
                         "re-run fmnist train to write it again") from e


def evaluate(path: Path, data_dir: Path | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on the 10,000 test images."""
    path = Path(path)
    if path.suffix not in SUPPORTED:
        raise ModelError(f"cannot evaluate {path}: expected one of {', '.join(SUPPORTED)}")
    from fmnist.train.fit import to_float

    test = data.load_split("test", data_dir)
    model = load_keras(path)
    probs = model.predict(to_float(test.images), batch_size=1024, verbose=0)
    return {"model": str(path), **classification_report(test.labels, probs)}
