"""The recipes of `fmnist train-own PHOTOS --backbone NAME`: models whose labels are PHOTOS' folder names, in
tiers. Each tier owns what is specific to it: the preprocessing kind its model takes (fmnist.runtime.kind), its
defaults, the options it takes (`--size`, `--init`), how it fits and what its model is called; what every tier
shares (the photos read and split, the held-out report, own_data.npz) is fmnist.train.own's.

`OWN` lists them in `--backbone`'s order: the 28x28 tier, then one photo tier per pretrained backbone
(fmnist.train.backbones). Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmnist.core.errors import ModelError, UsageError, listed
from fmnist.core.formats import KERAS, by_suffix
from fmnist.core.meta import MAX_LABELS, MIN_LABELS, check_labels
from fmnist.evaluation.keras_archive import check_keras_archive
from fmnist.evaluation.photo_figures import COVERAGE
from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.image import IMAGE_EXTENSIONS
from fmnist.runtime.kind import Preparation
from fmnist.runtime.preparation import CUTOUT
from fmnist.train.backbones import BACKBONES, Backbone
from fmnist.train.recipe import Recipe, RunConfig, Trained, check_backbone_size

if TYPE_CHECKING:  # for type hints only: these import TensorFlow
    from fmnist.evaluation.run_card import RunCard
    from fmnist.train.loop import Fitted
    from fmnist.train.own_data import OwnData

HOLDOUT = 0.15


def check_class_folders(photos: Path) -> None:
    """PHOTOS' class folders make usable labels (2 to 50 printable, distinct names), checked before any photo
    is read."""
    from fmnist.evaluation.photo_set import class_folders, list_photos  # here: every command imports the registry

    names = list(list_photos(photos))
    bare = [f"'{folder.name}'" for folder in class_folders(photos)[0] if folder.name not in names]
    if bare:  # its label would be missing from the model, without a word
        raise UsageError(f"{photos}'s class folder{'s' if len(bare) > 1 else ''} {listed(bare)} "
                         f"hold{'' if len(bare) > 1 else 's'} no photos ({', '.join(IMAGE_EXTENSIONS)}); add some, or "
                         "move the folder out: each class folder is a label")
    if not MIN_LABELS <= len(names) <= MAX_LABELS:
        raise UsageError(f"{photos} has {len(names)} class folder(s) with photos; own labels need {MIN_LABELS} to "
                         f"{MAX_LABELS}")
    try:
        check_labels(names, f"{photos}'s class folders")
    except ModelError as e:
        raise UsageError(f"{e}; rename the folders (their names are the labels)") from None


class Tier(Recipe):
    out = "own"
    epochs: int  # the recipe's default (a photo tier: fine-tuning epochs)
    batch_size: int

    @property
    def defaults(self) -> Mapping[str, Any]:
        return {"photos": None, "photos_val": None, "epochs": self.epochs, "batch_size": self.batch_size,
                "holdout": HOLDOUT, "per_class": None, "coverage": COVERAGE, **self.own_defaults}

    @property
    @abstractmethod
    def own_defaults(self) -> Mapping[str, Any]:
        """The options only this tier takes, with their defaults."""

    @abstractmethod
    def preparation(self, cfg: RunConfig) -> Preparation:
        """The preprocessing its model takes."""

    @abstractmethod
    def fit_photos(self, cfg: RunConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        """The trained model, and how it was made (the tier's part of metrics.json's `own_labels`)."""

    @abstractmethod
    def model_name(self, cfg: RunConfig) -> str:
        """The run card's model name."""

    def check(self, cfg: RunConfig) -> None:
        if cfg.photos is None:
            raise UsageError("give PHOTOS: a folder with one subfolder of photos per class")
        check_class_folders(cfg.photos)
        if cfg.photos_val is not None:  # its names too, before thousands of photos are read
            from fmnist.evaluation.photo_set import list_photos
            from fmnist.train.own_data import check_held_names, check_same_classes

            held = list(list_photos(cfg.photos_val))
            check_held_names(cfg.photos_val, held)
            check_same_classes(cfg, list(list_photos(cfg.photos)), held, held)

    def files(self, cfg: RunConfig) -> tuple[str, ...]:
        from fmnist.evaluation.testset import OWN_DATA

        return OWN_DATA, "photo_confusion.png"

    def fit(self, cfg: RunConfig) -> Trained:
        from fmnist.train.own import fit_own

        return fit_own(cfg, self.preparation(cfg), self.fit_photos, self.model_name(cfg))

    def summary(self, card: RunCard) -> list[str]:
        p, n_learn = card.photos, card.metrics["own_labels"]["n_learn"]
        assert p is not None  # an own-label run always reports on its held-out photos
        return [f"{len(card.labels)} labels ({', '.join(card.labels)}): top-1 {card.heldout_accuracy:.1%} on {p.n} "
                f"held-out photos, mean over folders {p.mean_strict:.1%}; learned from {n_learn} photos in "
                f"{card.train_seconds:.0f} s",
                f"'not sure' below {p.threshold:.2f}: answers {p.coverage:.0%} of held-out photos, "
                f"{p.answered_lenient:.1%} of them right"]


class CutOutTier(Tier):
    """The 28x28 tier: the shipped edge model's Fashion-MNIST network, a new head, fine-tuned on grey cut-outs
    (fmnist.train.cutout_tier)."""

    name, about = "edge", "the 28x28 tier (about 80 % on the clothing photos, well under 1 ms)"
    epochs, batch_size = 30, 32
    own_defaults: Mapping[str, Any] = {"init": None}  # type: ignore[assignment]
    examples = ("my-photos --out runs/mine",)

    def check(self, cfg: RunConfig) -> None:
        if cfg.init is not None:
            if by_suffix(cfg.init) is not KERAS or not cfg.init.is_file():
                raise UsageError(f"--init {cfg.init}: give a .keras model made by fmnist train (e.g. "
                                 "runs/edge/model.keras)")
            check_keras_archive(cfg.init)
        super().check(cfg)

    def preparation(self, cfg: RunConfig) -> Preparation:
        return CUTOUT

    def fit_photos(self, cfg: RunConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        from fmnist.train.cutout_tier import fit_cutout

        return fit_cutout(cfg, data)

    def model_name(self, cfg: RunConfig) -> str:
        return f"{'edge' if cfg.init is None else Path(cfg.init).parent.name} + own head"


@dataclass(frozen=True)
class BackboneTier(Tier):
    """A photo tier: a pretrained backbone's features of the colour centre square, a head, its top blocks
    fine-tuned (fmnist.train.photo_tier)."""

    backbone: Backbone
    epochs: int = 5
    batch_size: int = 64

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.backbone.name

    @property
    def examples(self) -> tuple[str, ...]:  # type: ignore[override]
        return (f"train/ --photos-val validation/ --backbone {self.name}",)

    @property
    def about(self) -> str:  # type: ignore[override]
        return f"the photo tier on {self.backbone.summary.split(' (')[0]}'s ImageNet features (about 92 %, a few ms)"

    @property
    def own_defaults(self) -> Mapping[str, Any]:
        return {"size": self.backbone.default_size}

    def check(self, cfg: RunConfig) -> None:
        check_backbone_size(cfg.size)
        super().check(cfg)

    def preparation(self, cfg: RunConfig) -> CentreCrop:
        return CentreCrop(cfg.size or self.backbone.default_size, self.backbone.mean, self.backbone.std)

    def fit_photos(self, cfg: RunConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        from fmnist.train.photo_tier import fit_own_photos

        return fit_own_photos(cfg, data, self.backbone)

    def model_name(self, cfg: RunConfig) -> str:
        return f"{self.name} {self.preparation(cfg).size}px + own head"


OWN: dict[str, Recipe] = {tier.name: tier for tier in (CutOutTier(), *(BackboneTier(b) for b in BACKBONES.values()))}
DEFAULT = "edge"
