"""`fmnist train-own PHOTOS`: a model whose labels are PHOTOS' folder names (2 to 50), in one of two tiers.

The tiers (fmnist.train.tiers) own what differs between them:
- The 28x28 tier (`--backbone edge`, the default): it starts from a Fashion-MNIST backbone (the shipped edge
  model's weights, or `--init RUN/model.keras`), replaces the 10-way head with one output per folder, and
  fine-tunes the whole network on the photos: each through the runtime's own `preprocess` (cached), with
  shift/flip, random erasing and photo-like light augmentation.
- The photo tier (`--backbone lite0 [--size N]`): an ImageNet backbone on the photos' colour centre squares,
  a frozen-feature head, then its top blocks fine-tuned (fmnist.train.tier).

A stratified share of each folder is held out (or `--photos-val DIR` is used instead); the figures, the
"not sure" threshold and the export's parity gate come from those photos.

runs/<name>/: model.keras, metrics.json (labels, per-class table, decision, preprocessing), own_data.npz (the
held-out photos as prepared arrays, and training photos for int8 calibration), history.json, curves.png,
photo_confusion.png
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import UsageError
from fmnist.core.formats import KERAS, recognise
from fmnist.core.meta import MAX_LABELS, MIN_LABELS
from fmnist.core.owned import OwnedFolder
from fmnist.core.tf import keras
from fmnist.data.split import stratified_split
from fmnist.evaluation.photo_figures import PhotoFigures, choose_threshold, decision_record, photo_figures
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import PhotoSet
from fmnist.evaluation.report import classification_report
from fmnist.evaluation.run_card import RunCard
from fmnist.evaluation.testset import OWN_DATA
from fmnist.runtime.decision import COVERAGE
from fmnist.runtime.kind import Preparation
from fmnist.train import plots
from fmnist.train.loop import Fitted, Phase, fit, make_dataset, optimizer, seed_everything, write_run
from fmnist.train.models import REGISTRY
from fmnist.train.photo_data import read_photos
from fmnist.train.run_folder import run_folder
from fmnist.train.tiers import DEFAULT_TIER, TIERS, Tier

BACKBONE = "edge.weights.h5"  # in fmnist/assets: the shipped edge model's weights (make model writes it)
WEIGHT_DECAY = 1e-4


@dataclass(frozen=True)
class OwnConfig:
    photos: Path
    out: Path | None = None  # default runs/own
    photos_val: Path | None = None  # default: hold out `holdout` of each folder
    init: Path | None = None  # a .keras model to start from; default: the shipped edge backbone
    backbone: str = DEFAULT_TIER  # a tier's name (fmnist.train.tiers): edge, the 28x28 tier, or a backbone's
    size: int | None = None  # the photo tier's input side (default: the backbone's)
    epochs: int | None = None  # default: the tier's
    batch_size: int | None = None  # default: the tier's
    learning_rate: float = 2e-3
    holdout: float = 0.15
    erase: float = 0.5  # random-erasing probability
    label_smoothing: float = 0.1
    per_class: int | None = None  # learn from at most this many photos per folder (few-shot)
    seed: int = 0
    coverage: float = COVERAGE
    progress: bool = True
    command: str = ""

    @property
    def tier(self) -> Tier:
        return TIERS[self.backbone]

    @property
    def preparation(self) -> Preparation:
        return self.tier.preparation(self.size)


def backbone(init: Path | None) -> Any:
    """A Fashion-MNIST-trained model whose last Dense layer is named "logits"."""
    if init is not None:
        if recognise(init) is not KERAS or not Path(init).is_file():
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
        held = read_photos(cfg.photos_val, cfg.progress, cfg.preparation)
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


@dataclass(frozen=True)
class OwnData:
    labels: list[str]  # the class folders' names
    learn: PhotoSet  # the photos learned from (those where the preprocessing found an object: `found`)
    held: PhotoSet  # the photos reported on, the threshold chosen on and the export gated on
    found: np.ndarray  # (len(learn),) bool
    preparation: Preparation

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, y) to learn from and (x, y) held out; x the model's input (N, *input_shape) float32, y one-hot."""
        count = len(self.labels)
        x = self.preparation.to_input(self.learn.images[self.found])
        y = keras.utils.to_categorical(self.learn.folder_index[self.found], count).astype(np.float32)
        x_held = self.preparation.to_input(self.held.images)
        y_held = keras.utils.to_categorical(self.held.folder_index, count).astype(np.float32)
        return x, y, x_held, y_held


def _own_data(cfg: OwnConfig) -> OwnData:
    photos = read_photos(cfg.photos, cfg.progress, cfg.preparation)
    labels = list(photos.folders)
    if not MIN_LABELS <= len(labels) <= MAX_LABELS:
        raise UsageError(f"{cfg.photos} has {len(labels)} class folders; own labels need {MIN_LABELS} to {MAX_LABELS}")
    learn, held = _split(cfg, photos)
    if cfg.per_class:
        learn = _few(learn, cfg.per_class, cfg.seed)
    # nothing found: "not sure" at run time, nothing to learn
    return OwnData(labels, learn, held, ~learn.empty, cfg.preparation)


def fit_cutout(cfg: OwnConfig, data: OwnData, epochs: int, batch: int) -> tuple[Fitted, dict[str, Any]]:
    """The 28x28 tier: the Fashion-MNIST backbone with a new head, fine-tuned on the grey cut-outs."""
    x, y, x_held, y_held = data.arrays()
    model = with_new_head(backbone(cfg.init), len(data.labels))
    learn = Phase(epochs, make_dataset(x, y, batch, train=True, augment=True, seed=cfg.seed,
                                       erase=cfg.erase, light=True, all_photos=True), len(x))
    steps = epochs * learn.steps(batch)
    model.compile(optimizer=optimizer("adamw", cfg.learning_rate, WEIGHT_DECAY, steps),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), metrics=["accuracy"])
    held = make_dataset(x_held, y_held, 512, train=False, augment=False, seed=0)
    recipe = {"backbone": cfg.tier.name, "init": str(cfg.init or f"shipped edge backbone ({BACKBONE})"),
              "epochs": epochs, "batch_size": batch, "learning_rate": cfg.learning_rate,
              "augmentation": f"shift, flip, photo-like light, random erasing {cfg.erase}", "seed": cfg.seed}
    return fit(model, [learn], held, batch, cfg.progress), recipe


def _metrics(cfg: OwnConfig, data: OwnData, fitted: Fitted, recipe: dict[str, Any], report: dict[str, Any],
             figures: PhotoFigures) -> dict[str, Any]:
    return {
        "model": cfg.tier.model_name(cfg), "command": cfg.command, "labels": data.labels,
        "params": int(fitted.model.count_params()), "heldout_accuracy": report["accuracy"],
        "train_seconds": round(fitted.seconds, 1),
        "own_labels": {"photos": str(cfg.photos), "heldout": str(cfg.photos_val or f"{cfg.holdout:.0%} of each folder"),
                       "n_learn": int(data.found.sum()), "n_heldout": len(data.held),
                       "left_out_empty": int((~data.found).sum()), "per_class": cfg.per_class,
                       **recipe},
        "per_class": report["per_class"], "confusion": report["confusion"],
        "photos": figures.to_json(), "decision": decision_record(figures, cfg.coverage),
    }


def _save_own_data(out: OwnedFolder, data: OwnData) -> None:
    """The held-out photos (to judge and gate the model on) and up to the preparation's `calib_photos` training
    photos (int8 calibration), as prepared arrays beside the model."""
    learned = data.learn.images[data.found]
    count = data.preparation.calib_photos
    calib = learned[np.random.default_rng(0).permutation(len(learned))[:count]]
    with out.writing(OWN_DATA) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, heldout_images=data.held.images, heldout_labels=data.held.folder_index,
                            heldout_empty=data.held.empty, calib_images=calib)


def train_own(cfg: OwnConfig) -> RunCard:
    """Learn the photo folders' names as labels and write the run folder; returns its card."""
    out = run_folder(Path(cfg.out or Path("runs") / "own"), (OWN_DATA, "photo_confusion.png"))
    data = _own_data(cfg)
    seed_everything(cfg.seed)
    fitted, recipe = cfg.tier.fit(cfg, data)
    probs = fitted.model.predict(data.preparation.to_input(data.held.images), batch_size=128, verbose=0)
    report = classification_report(data.held.folder_index, probs, data.labels)
    pmap = PhotoMap.own(data.labels)
    figures = photo_figures(probs, data.held, pmap, choose_threshold(probs, data.held, pmap, cfg.coverage))
    metrics = write_run(out, fitted, _metrics(cfg, data, fitted, recipe, report, figures), data.preparation)
    _save_own_data(out, data)
    plots.photo_confusion(figures, out / "photo_confusion.png")
    return RunCard.from_metrics(out.folder, metrics)
