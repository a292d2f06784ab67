"""The recipes of `fmnist train --model NAME`: models of Fashion-MNIST's ten labels.

- A 28x28 network (fmnist.train.models: edge, cnn, mlp, mlp2) on Fashion-MNIST, optionally with real photos
  (fmnist.train.fit).
- The photo model (`photo`): the photo tier on Fashion-MNIST rendered as photos and real photos
  (fmnist.train.photo_model).

Importing this module does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fmnist.core.errors import UsageError
from fmnist.core.meta import NUM_CLASSES
from fmnist.data import fashion
from fmnist.evaluation.photo_figures import COVERAGE, PHOTO_COVERAGE
from fmnist.evaluation.photo_map import PhotoMap
from fmnist.evaluation.photo_set import list_photos
from fmnist.train.models import DEFAULT_MODEL, REGISTRY, Network
from fmnist.train.recipe import Recipe, RunConfig, Trained, check_backbone_size

if TYPE_CHECKING:  # for type hints only
    from fmnist.evaluation.photo_figures import PhotoFigures
    from fmnist.evaluation.run_card import RunCard

VAL_SPLIT = 0.1
# The photo model: Fashion-MNIST training images a class, rendered as photos, and fine-tuning epochs: 3,000 and 4.
# 2,000 and 5, 5,000 and 2, 4,000 and 3 read lower (measured fine-tuning from block 10, the photos as they came:
# docs/model.md).
PHOTO_PER_CLASS = 3000
PHOTO_EPOCHS = 4
PHOTO_BATCH = 64
PHOTO_SIZE = 160


def check_photo_folders(cfg: RunConfig) -> None:
    """--photos, --photos-val and --photo-map as the fit reads them, short of the photos themselves: a missing or
    empty folder, a map that is not JSON or that lacks a folder, said before TensorFlow loads (seconds). A map given
    with no photo folder is not read, as the fit does not read it."""
    roots = [root for root in (cfg.photos, cfg.photos_val) if root is not None]
    if not roots:
        return
    pmap = PhotoMap.load(cfg.photo_map)
    for root in roots:
        pmap.check(tuple(list_photos(root)))


def photos_line(p: PhotoFigures) -> str:
    return (f"photos ({p.photos}): lenient {p.lenient:.1%}, strict {p.strict:.1%}, mean over folders "
            f"{p.mean_lenient:.1%}; 'not sure' below {p.threshold:.2f}: answers {p.coverage:.0%} of mapped photos "
            f"({p.answered_lenient:.1%} right), unsure on {p.unsure_unmapped:.0%} of unmapped")


@dataclass(frozen=True)
class FashionRecipe(Recipe):
    """A 28x28 network on Fashion-MNIST; with photos, they join its last epochs and choose its threshold."""

    network: Network
    about: str
    examples: tuple[str, ...] = ()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.network.name

    @property
    def out(self) -> str:  # type: ignore[override]
        return self.network.name

    @property
    def defaults(self) -> Mapping[str, Any]:
        net = self.network
        return {"epochs": net.epochs, "batch_size": net.batch_size, "limit": None, "val_split": VAL_SPLIT,
                "data_dir": None, "photos": None, "photos_val": None, "photo_map": None,
                "photo_share": net.photo_share, "photo_epochs": net.photo_epochs, "coverage": COVERAGE}

    def check(self, cfg: RunConfig) -> None:
        fashion.locate(cfg.data_dir)  # a missing dataset is said now (exit 3), not after TensorFlow's import
        check_photo_folders(cfg)

    def files(self, cfg: RunConfig) -> tuple[str, ...]:
        return "confusion.png", "samples.png", "errors.png", *(["photo_confusion.png"] if cfg.photos_val else [])

    def fit(self, cfg: RunConfig) -> Trained:
        from fmnist.train.fit import fit_fashion

        return fit_fashion(cfg, self.network)

    def summary(self, card: RunCard) -> list[str]:
        return [f"{card.model}: test accuracy {card.test_accuracy:.2%}, {card.params:,} params, trained in "
                f"{card.train_seconds:.0f} s", *([photos_line(card.photos)] if card.photos else [])]


class PhotoRecipe(Recipe):
    """The photo model: Fashion-MNIST's labels for real photos (fmnist.train.photo_model)."""

    name = out = "photo"
    about = ("Fashion-MNIST's labels for real photos: EfficientNet-Lite0 on the colour centre square, trained on "
             "Fashion-MNIST rendered as photos and on --photos (give --photos and --photos-val)")
    examples = ("--model photo --photos train/ --photos-val validation/",)
    defaults: Mapping[str, Any] = {  # type: ignore[assignment]
        "epochs": PHOTO_EPOCHS, "batch_size": PHOTO_BATCH, "limit": PHOTO_PER_CLASS * NUM_CLASSES,
        "size": PHOTO_SIZE, "data_dir": None, "photos": None, "photos_val": None, "photo_map": None,
        "coverage": PHOTO_COVERAGE}

    def check(self, cfg: RunConfig) -> None:
        if cfg.photos is None or cfg.photos_val is None:
            raise UsageError("the photo model learns from real photos: give --photos DIR and --photos-val DIR "
                             "(fmnist data fetch photos downloads the clothing photo set)")
        check_backbone_size(cfg.size)
        fashion.locate(cfg.data_dir)  # it renders Fashion-MNIST: a missing dataset is said before TensorFlow loads
        check_photo_folders(cfg)

    def files(self, cfg: RunConfig) -> tuple[str, ...]:
        from fmnist.evaluation.testset import CALIB_DATA

        return CALIB_DATA, "confusion.png", "photo_confusion.png"

    def fit(self, cfg: RunConfig) -> Trained:
        from fmnist.train.photo_model import fit_photo

        return fit_photo(cfg)

    def summary(self, card: RunCard) -> list[str]:
        assert card.photos is not None  # the photo model always reports on its validation photos
        return [f"{card.model}: {card.test_accuracy:.2%} on the Fashion-MNIST test images rendered as photos, "
                f"{card.params:,} params, trained in {card.train_seconds:.0f} s", photos_line(card.photos)]


ABOUT = {"edge": "ours: a 28x28 CNN shaped by int8 latency", "cnn": "the Keras notebook CNN",
         "mlp": "the Keras notebook MLP", "mlp2": "a two-layer MLP"}
EXAMPLES = {"edge": ("--model edge --photos train/ --photos-val validation/",),
            "cnn": ("--model cnn --epochs 5 --batch-size 64 --out runs/cnn",)}
FASHION: dict[str, Recipe] = {
    **{name: FashionRecipe(net, ABOUT[name], EXAMPLES.get(name, ())) for name, net in REGISTRY.items()},
    "photo": PhotoRecipe(),
}
DEFAULT = DEFAULT_MODEL
