"""The tiers of `fmnist train-own --backbone NAME`: the extension point for own-label training.

A tier owns what is specific to it, so no code outside this file asks which tier it has: the preprocessing
kind its model takes (fmnist.runtime.kind), its recipe's defaults (epochs, batch size), which options it takes
(`--size`, `--init`), how it fits and what its model is called. `TIERS` lists them in `--backbone`'s order:
the 28x28 tier, then one photo tier per pretrained backbone (fmnist.train.backbones). Importing this module
does not import TensorFlow (the CLI builds its help from it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.kind import Preparation
from fmnist.runtime.preparation import CUTOUT
from fmnist.train.backbones import BACKBONES, Backbone

if TYPE_CHECKING:  # for type hints only: own.py imports TensorFlow
    from fmnist.train.loop import Fitted
    from fmnist.train.own import OwnConfig, OwnData


class Tier(ABC):
    name: str
    about: str  # --backbone's help, one phrase
    epochs: int  # the recipe's default (the photo tier: fine-tuning epochs)
    batch_size: int
    sized: bool  # takes --size (its input side)
    initialised: bool  # takes --init (a .keras run to start from)

    @abstractmethod
    def preparation(self, size: int | None) -> Preparation:
        """The preprocessing its model takes, at `size` (None: the tier's default)."""

    @abstractmethod
    def fit(self, cfg: OwnConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        """The trained model, and how it was made (the tier's part of metrics.json's `own_labels`)."""

    @abstractmethod
    def model_name(self, cfg: OwnConfig) -> str:
        """The run card's model name."""


class CutOutTier(Tier):
    """The 28x28 tier: the shipped edge model's Fashion-MNIST network, a new head, fine-tuned on grey cut-outs."""

    name, about = "edge", "the 28x28 tier (about 80 % on the clothing photos, well under 1 ms)"
    epochs, batch_size, sized, initialised = 30, 32, False, True

    def preparation(self, size: int | None) -> Preparation:
        return CUTOUT

    def fit(self, cfg: OwnConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        from fmnist.train.own import fit_cutout

        return fit_cutout(cfg, data, cfg.epochs or self.epochs, cfg.batch_size or self.batch_size)

    def model_name(self, cfg: OwnConfig) -> str:
        return f"{'edge' if cfg.init is None else Path(cfg.init).parent.name} + own head"


@dataclass(frozen=True)
class BackboneTier(Tier):
    """A photo tier: a pretrained backbone's features of the colour centre square, a head, its top blocks
    fine-tuned (fmnist.train.tier)."""

    backbone: Backbone
    epochs: int = 5
    batch_size: int = 64
    sized: bool = True
    initialised: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.backbone.name

    @property
    def about(self) -> str:  # type: ignore[override]
        return f"the photo tier on {self.backbone.summary.split(' (')[0]}'s ImageNet features (about 92 %, a few ms)"

    def preparation(self, size: int | None) -> Preparation:
        return CentreCrop(size or self.backbone.default_size, self.backbone.mean, self.backbone.std)

    def fit(self, cfg: OwnConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
        from fmnist.train.tier import TierRecipe, fit_tier

        recipe = TierRecipe(epochs=cfg.epochs or self.epochs, batch_size=cfg.batch_size or self.batch_size,
                            seed=cfg.seed, progress=cfg.progress)
        x, y, x_held, y_held = data.arrays()
        tier = fit_tier(self.backbone, data.preparation.size, x, y, x_held, y_held, recipe)
        return tier.fitted, tier.record(self.backbone, data.preparation.size)

    def model_name(self, cfg: OwnConfig) -> str:
        return f"{self.name} {self.preparation(cfg.size).size}px + own head"


TIERS: dict[str, Tier] = {tier.name: tier for tier in (CutOutTier(), *(BackboneTier(b) for b in BACKBONES.values()))}
DEFAULT_TIER = "edge"
