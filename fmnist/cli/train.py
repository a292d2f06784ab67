"""`fmnist train` (a registry model on Fashion-MNIST, optionally with photos) and `fmnist train-own` (a model
of your own classes, from photo folders)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from fmnist.cli.common import DataDir, command_line
from fmnist.core.errors import UsageError
from fmnist.core.formats import KERAS, by_suffix
from fmnist.runtime.decision import COVERAGE, PHOTO_COVERAGE
from fmnist.train.models import DEFAULT_MODEL, PHOTO_MODEL, REGISTRY
from fmnist.train.tiers import DEFAULT_TIER, TIERS

ModelName = enum.Enum("ModelName", {name: name for name in (*REGISTRY, PHOTO_MODEL)}, type=str)  # type: ignore[misc]
TierName = enum.Enum("TierName", {name: name for name in TIERS}, type=str)  # type: ignore[misc]


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("train-own")(train_own)


def train(
    model: ModelName = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Which registry model to train."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Epochs (default: the model's recipe)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Batch size (default: the recipe's)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split, shuffling, augmentation and weights."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False, help="Run folder (default runs/MODEL)."),
    val_split: float = typer.Option(0.1, "--val-split", min=0.01, max=0.9,
                                    help="Stratified share of training images held out for validation."),
    limit: int | None = typer.Option(None, "--limit", min=20, help="Train on a stratified subset (for quick checks)."),
    photos: Path | None = typer.Option(None, "--photos", exists=True, file_okay=False,
                                       help="Also learn from real photos: a folder with one subfolder per class."),
    photos_val: Path | None = typer.Option(None, "--photos-val", exists=True, file_okay=False,
                                           help="Photos to report on and to choose the 'not sure' threshold with "
                                                "(never trained on)."),
    photo_map: Path | None = typer.Option(None, "--photo-map", exists=True, dir_okay=False,
                                          help="JSON {folder: [labels]} (default: the clothing photo set's "
                                               "folders; [] means 'not sure')."),
    photo_share: float | None = typer.Option(None, "--photo-share", min=0.01, max=0.9,
                                             help="Share of each epoch's samples that are photos (default: "
                                                  "the recipe's)."),
    photo_epochs: int | None = typer.Option(None, "--photo-epochs", min=1,
                                            help="Photos join for the last N epochs (default: the recipe's)."),
    coverage: float | None = typer.Option(None, "--coverage", min=0.05, max=1.0,
                                          help=f"The 'not sure' threshold answers this share of mapped --photos-val "
                                               f"photos (default: {COVERAGE}; the photo model {PHOTO_COVERAGE})."),
    size: int = typer.Option(160, "--size", min=32, max=512,
                             help="The photo model's input side in pixels, a multiple of 32."),
    own_labels: bool = typer.Option(False, "--own-labels", hidden=True,
                                    help="Moved: fmnist train-own PHOTOS."),
    data_dir: Path | None = DataDir,
) -> None:
    """Train a model and write its run folder: model.keras, history.json, metrics.json and four plots.

    Models: **edge** (default, ours), **cnn** (the Keras notebook CNN), **mlp**, **mlp2**, and **photo**:
    Fashion-MNIST's labels for real photos (EfficientNet-Lite0 on the colour centre square, trained on
    Fashion-MNIST rendered as photos and on --photos; needs --photos and --photos-val; --limit counts its
    rendered images, --size is its side).

    With --photos, real photos go through the runtime's own preprocessing (cached) and join training;
    with --photos-val, metrics.json and photo_confusion.png report them and the 'not sure' threshold is chosen.
    For a model of your own classes, see fmnist train-own.

    Example: fmnist train --model cnn --epochs 5 --batch-size 64 --seed 0 --out runs/cnn

    Example: fmnist train --photos photos/train --photos-val photos/validation
    """
    if own_labels:
        raise UsageError("train --own-labels is now its own command: fmnist train-own PHOTOS [--photos-val DIR] "
                         "[--out DIR] (see fmnist train-own --help)")
    if model.value == PHOTO_MODEL:
        _train_photo(photos, photos_val, out, size, limit, epochs, batch_size, photo_map, coverage or PHOTO_COVERAGE,
                     seed, data_dir)
        return
    from fmnist.train.fit import TrainConfig
    from fmnist.train.fit import train as run

    cfg = TrainConfig(model=model.value, out=out, epochs=epochs, batch_size=batch_size, seed=seed,
                      val_split=val_split, limit=limit, data_dir=data_dir, photos=photos, photos_val=photos_val,
                      photo_map=photo_map, photo_share=photo_share, photo_epochs=photo_epochs,
                      coverage=coverage or COVERAGE, command=command_line())
    card = run(cfg)
    typer.echo(f"{card.model}: test accuracy {card.test_accuracy:.2%}, {card.params:,} params, "
               f"trained in {card.train_seconds:.0f} s")
    if card.photos:
        p = card.photos
        typer.echo(f"photos ({p.photos}): lenient {p.lenient:.1%}, strict {p.strict:.1%}, mean over "
                   f"folders {p.mean_lenient:.1%}; 'not sure' below {p.threshold:.2f}: answers "
                   f"{p.coverage:.0%} of mapped photos ({p.answered_lenient:.1%} right), unsure on "
                   f"{p.unsure_unmapped:.0%} of unmapped")
    typer.echo(f"wrote {card.folder}/: model.keras history.json metrics.json curves.png confusion.png samples.png "
               "errors.png" + (" photo_confusion.png" if card.photos else ""))


def _train_photo(photos: Path | None, photos_val: Path | None, out: Path | None, size: int, limit: int | None,
                 epochs: int | None, batch_size: int | None, photo_map: Path | None, coverage: float, seed: int,
                 data_dir: Path | None) -> None:
    """fmnist train --model photo: the photo model (fmnist.train.photo_model)."""
    if photos is None or photos_val is None:
        raise UsageError("--model photo learns from real photos: give --photos DIR and --photos-val DIR "
                         "(fmnist data fetch --photos downloads the clothing photo set)")
    if size % 32:
        raise UsageError(f"--size {size}: give a multiple of 32 (the backbone halves the picture five times)")
    from fmnist.train.photo_model import EPOCHS, PER_CLASS, PhotoModelConfig, train_photo

    per_class = max(1, limit // 10) if limit else PER_CLASS
    cfg = PhotoModelConfig(photos, photos_val, out=out, size=size, per_class=per_class, epochs=epochs or EPOCHS,
                           batch_size=batch_size, photo_map=photo_map, coverage=coverage, seed=seed,
                           data_dir=data_dir, command=command_line())
    card = train_photo(cfg)
    p = card.photos
    assert p is not None  # the photo model always reports on its validation photos
    typer.echo(f"photo: {card.test_accuracy:.2%} on the Fashion-MNIST test images rendered as photos, "
               f"{card.params:,} params, trained in {card.train_seconds:.0f} s")
    typer.echo(f"photos ({p.photos}): lenient {p.lenient:.1%}, strict {p.strict:.1%}, mean over folders "
               f"{p.mean_lenient:.1%}; 'not sure' below {p.threshold:.2f}: answers {p.coverage:.0%} of mapped "
               f"photos ({p.answered_lenient:.1%} right), unsure on {p.unsure_unmapped:.0%} of unmapped")
    typer.echo(f"wrote {card.folder}/: model.keras history.json metrics.json calib_data.npz curves.png "
               f"confusion.png photo_confusion.png; next: fmnist export {card.folder} --int8")


def _check_class_folders(photos: Path) -> None:
    """PHOTOS' class folders make usable labels (2 to 50 printable, distinct names), checked before any photo
    is read."""
    from fmnist.core.errors import ModelError
    from fmnist.core.meta import MAX_LABELS, MIN_LABELS, check_labels
    from fmnist.evaluation.photo_set import list_photos

    names = list(list_photos(photos))
    if not MIN_LABELS <= len(names) <= MAX_LABELS:
        raise UsageError(f"{photos} has {len(names)} class folder(s) with photos; own labels need {MIN_LABELS} to "
                         f"{MAX_LABELS}")
    try:
        check_labels(names, f"{photos}'s class folders")
    except ModelError as e:
        raise UsageError(f"{e}; rename the folders (their names are the labels)") from None


def train_own(
    photos: Path = typer.Argument(..., exists=True, file_okay=False, metavar="PHOTOS",
                                  help="A folder with one subfolder of photos per class; the folder names are the "
                                       "labels (2 to 50)."),
    photos_val: Path | None = typer.Option(None, "--photos-val", exists=True, file_okay=False,
                                           help="Photos to report on and choose the 'not sure' threshold with, in "
                                                "the same class folders (default: hold out --holdout of each)."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False, help="Run folder (default runs/own)."),
    backbone: TierName = typer.Option(DEFAULT_TIER, "--backbone", "-b",
                                      help="; ".join(f"{t.name}: {t.about}" for t in TIERS.values()) + "."),
    size: int | None = typer.Option(None, "--size", min=32, max=512,
                                    help="The photo tier's input side in pixels, a multiple of 32 (default 160; "
                                         "224, 192 and 128 are measured in docs/your-own-classes.md)."),
    init: Path | None = typer.Option(None, "--init", exists=True, dir_okay=False,
                                     help="The 28x28 tier's .keras model to start from (default: the shipped edge "
                                          "model's backbone)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1,
                                      help="Epochs (default: the tier's: "
                                           + ", ".join(f"{t.name} {t.epochs}" for t in TIERS.values())
                                           + "; a photo tier's are fine-tuning epochs)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                          help="Batch size (default: the tier's: "
                                               + ", ".join(f"{t.name} {t.batch_size}" for t in TIERS.values()) + ")."),
    holdout: float = typer.Option(0.15, "--holdout", min=0.05, max=0.5,
                                  help="Without --photos-val: share of each folder held out."),
    per_class: int | None = typer.Option(None, "--per-class", min=1,
                                         help="Learn from at most N photos per folder."),
    seed: int = typer.Option(0, "--seed", help="Seed for the hold-out, shuffling, augmentation and the head."),
    coverage: float = typer.Option(COVERAGE, "--coverage", min=0.05, max=1.0,
                                   help="The 'not sure' threshold answers this share of held-out photos."),
) -> None:
    """Train a model of your own classes: the labels are PHOTOS' folder names (docs/your-own-classes.md).

    Two tiers. The 28x28 tier (default) starts from a Fashion-MNIST backbone, gives it a new head and fine-tunes
    on the photos' grey cut-outs. The photo tier (--backbone lite0) learns a head on EfficientNet-Lite0's ImageNet
    features of the photos' colour centre squares, then fine-tunes its top blocks. Either way the model records
    its preprocessing, and classify, live and bench use it unchanged. Then export it: fmnist export runs/own --int8

    Example: fmnist train-own my-photos --out runs/mine

    Example: fmnist train-own photos/train --photos-val photos/validation --backbone lite0 --out runs/lite0
    """
    tier = TIERS[backbone.value]
    if size is not None and not tier.sized:
        raise UsageError(f"--size is a photo tier's input side; --backbone {tier.name} takes "
                         f"{'x'.join(map(str, tier.preparation(None).input_shape[:2]))} (add --backbone "
                         f"{next(t.name for t in TIERS.values() if t.sized)})")
    if init is not None and not tier.initialised:
        raise UsageError(f"--init starts the 28x28 tier from a .keras run; --backbone {tier.name} starts from "
                         "its pretrained weights")
    if size is not None and size % 32:
        raise UsageError(f"--size {size}: give a multiple of 32 (the backbone halves the picture five times)")
    if init is not None and by_suffix(init) is not KERAS:
        raise UsageError(f"--init {init}: give a .keras model made by fmnist train (e.g. runs/edge/model.keras)")
    _check_class_folders(photos)
    from fmnist.train.own import OwnConfig  # TensorFlow: only once the arguments are known to be good
    from fmnist.train.own import train_own as run

    recipe = {k: v for k, v in {"batch_size": batch_size}.items() if v is not None}
    cfg = OwnConfig(photos, out=out, photos_val=photos_val, init=init, backbone=backbone.value, size=size,
                    epochs=epochs, holdout=holdout, per_class=per_class, seed=seed, coverage=coverage,
                    command=command_line(), **recipe)
    card = run(cfg)
    p, n_learn = card.photos, card.metrics["own_labels"]["n_learn"]
    assert p is not None  # an own-label run always reports on its held-out photos
    typer.echo(f"{len(card.labels)} labels ({', '.join(card.labels)}): top-1 {card.heldout_accuracy:.1%} on {p.n} "
               f"held-out photos, mean over folders {p.mean_strict:.1%}; learned from {n_learn} photos in "
               f"{card.train_seconds:.0f} s")
    typer.echo(f"'not sure' below {p.threshold:.2f}: answers {p.coverage:.0%} of held-out photos, "
               f"{p.answered_lenient:.1%} of them right")
    typer.echo(f"wrote {card.folder}/: model.keras metrics.json own_data.npz history.json curves.png "
               f"photo_confusion.png; next: fmnist export {card.folder} --int8")
