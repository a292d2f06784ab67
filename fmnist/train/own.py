"""`fmnist train --photos DIR --own-labels`: a model whose labels are DIR's folder names (2 to 50).

It starts from a Fashion-MNIST backbone (the shipped edge model's weights, or `--init RUN/model.keras`),
replaces the 10-way head with one output per folder, and fine-tunes the whole network on the photos: each
through the runtime's own `preprocess` (cached), with shift/flip, random erasing and photo-like light augmentation.
A stratified share of each folder is held out (or `--photos-val DIR` is used instead); the figures, the
"not sure" threshold and the export's parity gate come from those photos.

runs/<name>/: model.keras, metrics.json (labels, per-class table, decision), own_data.npz (the held-out
photos as 28x28 arrays, and training photos for int8 calibration), history.json, curves.png,
photo_confusion.png
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core import atomic
from fmnist.core.errors import UsageError
from fmnist.core.meta import MAX_LABELS, MIN_LABELS
from fmnist.core.tf import keras, tf
from fmnist.data import fashion
from fmnist.evaluation.photo_figures import choose_threshold, decision_record, photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet
from fmnist.evaluation.report import classification_report
from fmnist.evaluation.testset import OWN_DATA
from fmnist.runtime.decision import COVERAGE
from fmnist.train import plots
from fmnist.train.fit import make_dataset
from fmnist.train.models import REGISTRY
from fmnist.train.photo_data import read_photos
from fmnist.train.progress import RichProgress
from fmnist.train.provenance import provenance
from fmnist.train.split import stratified_split

BACKBONE = "edge.weights.h5"  # in fmnist/assets: the shipped edge model's weights (make model writes it)
CALIB_PHOTOS = 1000


@dataclass(frozen=True)
class OwnConfig:
    photos: Path
    out: Path | None = None  # default runs/own
    photos_val: Path | None = None  # default: hold out `holdout` of each folder
    init: Path | None = None  # a .keras model to start from; default: the shipped edge backbone
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    holdout: float = 0.15
    erase: float = 0.5  # random-erasing probability
    label_smoothing: float = 0.1
    per_class: int | None = None  # learn from at most this many photos per folder (few-shot)
    seed: int = 0
    coverage: float = COVERAGE
    progress: bool = True
    command: str = ""


def backbone(init: Path | None) -> Any:
    """A Fashion-MNIST-trained model whose last Dense layer is named "logits"."""
    if init is not None:
        if Path(init).suffix != ".keras" or not Path(init).is_file():
            raise UsageError(f"--init {init}: give a .keras model made by fmnist train (e.g. runs/edge/model.keras)")
        return keras.models.load_model(init, compile=False)
    model = REGISTRY["edge"].build()
    model.load_weights(str(resources.files("fmnist") / "assets" / BACKBONE))
    return model


def with_new_head(base: Any, classes: int) -> Any:
    features = base.get_layer("logits").input
    logits = keras.layers.Dense(classes, name="own_logits")(features)
    return keras.Model(base.input, keras.layers.Softmax(name="probs")(logits), name=f"{base.name}_own")


def subset(photos: PhotoSet, rows: np.ndarray) -> PhotoSet:
    return replace(photos, images=photos.images[rows], folder_index=photos.folder_index[rows],
                   empty=photos.empty[rows], paths=[photos.paths[i] for i in rows], skipped=[])


def _split(cfg: OwnConfig, photos: PhotoSet) -> tuple[PhotoSet, PhotoSet]:
    """(photos to learn from, photos to report on)."""
    if cfg.photos_val is not None:
        held = read_photos(cfg.photos_val, cfg.progress)
        unknown = sorted(set(held.folders) - set(photos.folders))
        if unknown:
            raise UsageError(f"--photos-val {cfg.photos_val} has folders {', '.join(unknown)} that {cfg.photos} "
                             "has not; both need the same class folders")
        # re-index the validation folders into the training folders' order
        order = np.array([photos.folders.index(f) for f in held.folders])
        held = replace(held, folders=photos.folders, folder_index=order[held.folder_index])
        return photos, held
    counts = np.bincount(photos.folder_index, minlength=len(photos.folders))
    if counts.min() < 2:
        small = [f for f, n in zip(photos.folders, counts, strict=True) if n < 2]
        raise UsageError(f"folders {', '.join(small)} have fewer than 2 photos; each class needs some to learn "
                         "from and some to hold out")
    keep, held = stratified_split(photos.folder_index, cfg.holdout, cfg.seed)
    return subset(photos, keep), subset(photos, held)


def _few(photos: PhotoSet, per_class: int, seed: int) -> PhotoSet:
    rng = np.random.default_rng(seed)
    rows = [rng.permutation(np.flatnonzero(photos.folder_index == c))[:per_class] for c in range(len(photos.folders))]
    return subset(photos, np.sort(np.concatenate(rows)))


def train_own(cfg: OwnConfig) -> dict[str, Any]:
    out = Path(cfg.out or Path("runs") / "own")
    photos = read_photos(cfg.photos, cfg.progress)
    labels = list(photos.folders)
    if not MIN_LABELS <= len(labels) <= MAX_LABELS:
        raise UsageError(f"{cfg.photos} has {len(labels)} class folders; own labels need {MIN_LABELS} to {MAX_LABELS}")
    learn, held = _split(cfg, photos)
    if cfg.per_class:
        learn = _few(learn, cfg.per_class, cfg.seed)
    found = ~learn.empty  # nothing found: the runtime says "not sure" there, so there is nothing to learn
    x = fashion.to_model_input(learn.images[found])
    y = keras.utils.to_categorical(learn.folder_index[found], len(labels)).astype(np.float32)
    x_held = fashion.to_model_input(held.images)
    y_held = keras.utils.to_categorical(held.folder_index, len(labels)).astype(np.float32)

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    model = with_new_head(backbone(cfg.init), len(labels))
    steps = -(-len(x) // cfg.batch_size)  # per epoch
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=cfg.epochs * steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), metrics=["accuracy"])
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        callbacks = [RichProgress(cfg.epochs, steps)] if cfg.progress else []
        train_ds = make_dataset(x, y, cfg.batch_size, train=True, augment=True, seed=cfg.seed, erase=cfg.erase,
                                light=True, all_photos=True)
        held_ds = make_dataset(x_held, y_held, 512, train=False, augment=False, seed=0)
        fitted = model.fit(train_ds, epochs=cfg.epochs, validation_data=held_ds, callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    train_seconds = time.perf_counter() - started

    probs = model.predict(x_held, batch_size=512, verbose=0)
    report = classification_report(held.folder_index, probs, labels)
    pmap = PhotoMap.own(labels)
    threshold = choose_threshold(probs, held, pmap, cfg.coverage)
    figures = photo_figures(probs, held, pmap, threshold)
    metrics = {
        "model": f"{REGISTRY['edge'].name if cfg.init is None else Path(cfg.init).parent.name} + own head",
        "command": cfg.command, "labels": labels, "params": int(model.count_params()),
        "heldout_accuracy": report["accuracy"], "train_seconds": round(train_seconds, 1),
        "own_labels": {"photos": str(cfg.photos), "heldout": str(cfg.photos_val or f"{cfg.holdout:.0%} of each folder"),
                       "n_learn": len(x), "n_heldout": len(held), "left_out_empty": int((~found).sum()),
                       "per_class": cfg.per_class, "init": str(cfg.init or f"shipped edge backbone ({BACKBONE})"),
                       "epochs": cfg.epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
                       "augmentation": f"shift, flip, photo-like light, random erasing {cfg.erase}", "seed": cfg.seed},
        "per_class": report["per_class"], "confusion": report["confusion"],
        "photos": figures, "decision": decision_record(figures, cfg.coverage),
        **provenance(),
    }
    calib = learn.images[found][np.random.default_rng(0).permutation(len(x))[:CALIB_PHOTOS]]
    with atomic.atomic_path(out / "model.keras") as tmp:
        model.save(tmp)
    with atomic.atomic_path(out / OWN_DATA) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, heldout_images=held.images, heldout_labels=held.folder_index,
                            heldout_empty=held.empty, calib_images=calib)
    atomic.write_json(out / "history.json", history)
    atomic.write_json(out / "metrics.json", metrics)
    plots.curves(history, out / "curves.png")
    plots.photo_confusion(figures, out / "photo_confusion.png")
    return metrics
