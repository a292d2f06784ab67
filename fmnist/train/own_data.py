"""The photos an own-label run learns from and is judged on, the same for every tier (fmnist.train.own_recipes):
PHOTOS read through the tier's preparation, then a stratified share of each folder held out (or `--photos-val`
read instead), and at most `--per-class` photos of each folder learned from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fmnist.core.errors import UsageError, listed
from fmnist.core.meta import printing_alike, same_name
from fmnist.data.split import stratified_split
from fmnist.evaluation.photo_set import PhotoSet
from fmnist.runtime.kind import Preparation
from fmnist.train.photo_data import read_photos
from fmnist.train.recipe import RunConfig


@dataclass(frozen=True)
class OwnData:
    labels: list[str]  # the class folders' names
    learn: PhotoSet  # the photos learned from (those where the preprocessing found an object: `found`)
    held: PhotoSet  # the photos reported on, the threshold chosen on and the export gated on
    found: np.ndarray  # (len(learn),) bool
    preparation: Preparation

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, y) to learn from and (x, y) held out; x the model's input (N, *input_shape) float32, y one-hot."""
        one_hot = np.eye(len(self.labels), dtype=np.float32)
        x = self.preparation.to_input(self.learn.images[self.found])
        y = one_hot[self.learn.folder_index[self.found]]
        x_held = self.preparation.to_input(self.held.images)
        y_held = one_hot[self.held.folder_index]
        return x, y, x_held, y_held


def subset(photos: PhotoSet, rows: np.ndarray) -> PhotoSet:
    return replace(photos, images=photos.images[rows], folder_index=photos.folder_index[rows],
                   empty=photos.empty[rows], paths=[photos.paths[i] for i in rows], skipped=[])


def check_held_names(photos_val: Path | None, folders: Sequence[str]) -> None:
    """No two of --photos-val's class folders print alike (they would be one class). UsageError otherwise."""
    alike = printing_alike(folders)
    if alike:
        raise UsageError(f"--photos-val {photos_val} has folders {alike} that print alike, so they would be one "
                         "class; rename one")


def check_same_classes(cfg: RunConfig, folders: Sequence[str], held: Sequence[str], judged: Sequence[str],
                       lacking: str = "has no folder of") -> None:
    """--photos-val's class folders (`held`, those with a photo read: `judged`) are PHOTOS' (`folders`), as their
    names print (same_name: an NFD "café" there is the photos' NFC "café"). UsageError otherwise."""
    names, read = {same_name(f) for f in folders}, {same_name(f) for f in judged}
    unknown = sorted(f for f in held if same_name(f) not in names)
    missing = sorted(f for f in folders if same_name(f) not in read)
    if unknown or missing:
        what = (f"has folders {listed(unknown)} that {cfg.photos} has not" if unknown
                else f"{lacking} {listed(missing)}")
        raise UsageError(f"--photos-val {cfg.photos_val} {what}; both need the same class folders")


def _check_held_apart(cfg: RunConfig, photos: PhotoSet, held: PhotoSet) -> None:
    """--photos-val judges every class, on photos the model never learns from. UsageError otherwise."""
    check_held_names(cfg.photos_val, held.folders)
    judged = [held.folders[i] for i in np.unique(held.folder_index)]  # all photos unreadable: not judged
    check_same_classes(cfg, photos.folders, held.folders, judged, "has no photo it can read of")
    shared = set(photos.digests) & set(held.digests)
    if shared:
        verb = "is" if len(shared) == 1 else "are"
        raise UsageError(f"--photos-val {cfg.photos_val}: {len(shared)} of its photos {verb} also in {cfg.photos} "
                         "(the same bytes); held-out photos must be ones the model never learns from")


def _split(cfg: RunConfig, photos: PhotoSet, preparation: Preparation) -> tuple[PhotoSet, PhotoSet]:
    """(photos to learn from, photos to report on)."""
    if cfg.photos_val is not None:
        held = read_photos(cfg.photos_val, cfg.progress, preparation)
        _check_held_apart(cfg, photos, held)
        # re-index the validation folders into the training folders' order
        names = [same_name(f) for f in photos.folders]
        order = np.array([names.index(same_name(f)) for f in held.folders])
        held = replace(held, folders=photos.folders, folder_index=order[held.folder_index])
        return photos, held
    counts = np.bincount(photos.folder_index, minlength=len(photos.folders))
    if counts.min() < 2:
        small = [f for f, n in zip(photos.folders, counts, strict=True) if n < 2]
        raise UsageError(f"folders {', '.join(small)} have fewer than 2 photos; each class needs some to learn "
                         "from and some to hold out")
    keep, held_rows = stratified_split(photos.folder_index, cfg.holdout, cfg.seed)
    return subset(photos, keep), subset(photos, held_rows)


def _few(photos: PhotoSet, per_class: int, seed: int) -> PhotoSet:
    rng = np.random.default_rng(seed)
    # at random, but photos in which the preprocessing found something first: a plain one teaches nothing
    picks = [rng.permutation(np.flatnonzero(photos.folder_index == c)) for c in range(len(photos.folders))]
    rows = [p[np.argsort(photos.empty[p], kind="stable")][:per_class] for p in picks]
    return subset(photos, np.sort(np.concatenate(rows)))


def own_data(cfg: RunConfig, preparation: Preparation) -> OwnData:
    """PHOTOS (cfg.photos, their class folders checked by the recipe) split into photos to learn from and
    held-out photos, all prepared for the tier's model."""
    assert cfg.photos is not None  # every tier takes PHOTOS (own_recipes.Tier.check)
    photos = read_photos(cfg.photos, cfg.progress, preparation)
    learn, held = _split(cfg, photos, preparation)
    if cfg.per_class:
        learn = _few(learn, cfg.per_class, cfg.seed)
    # nothing found: "not sure" at run time, nothing to learn
    _check_each_class_learned(photos.folders, learn)
    return OwnData(list(photos.folders), learn, held, ~learn.empty, preparation)


def _check_each_class_learned(folders: tuple[str, ...], learn: PhotoSet) -> None:
    """Every class has a photo to learn from in which the preprocessing found something. UsageError otherwise: a
    class learned from no photo is a label the model never gives for a reason."""
    found = np.bincount(learn.folder_index[~learn.empty], minlength=len(folders))
    bare = [name for name, n in zip(folders, found, strict=True) if n == 0]
    if bare:
        raise UsageError(f"no photo to learn from in {listed(bare)}: the preprocessing found nothing to classify in "
                         "any of its photos (a plain picture, or an object it cannot tell from the ground); "
                         "photograph it against a plain, contrasting ground")
