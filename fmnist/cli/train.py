"""`fmnist train` (a model of Fashion-MNIST's labels) and `fmnist train-own` (a model of your own classes, from
photo folders). Both choose a recipe from the registry (fmnist.train.registry), which gives their choices, their
options' defaults, their examples, their checks and what is said after a run; no code here asks which recipe
it has."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from fmnist.cli.app import add_command
from fmnist.cli.common import DataDir, command_line
from fmnist.train.recipe import Family
from fmnist.train.registry import TRAIN, TRAIN_OWN

ModelName = enum.Enum("ModelName", {name: name for name in TRAIN.recipes}, type=str)  # type: ignore[misc]
TierName = enum.Enum("TierName", {name: name for name in TRAIN_OWN.recipes}, type=str)  # type: ignore[misc]

TRAIN_HELP = """Train a model of Fashion-MNIST's ten labels and write its run folder: model.keras, history.json,
metrics.json, curves.png and the recipe's pictures.

--model chooses the recipe (see its help). With --photos, real photos go through the runtime's own preprocessing
(cached) and join training; with --photos-val, metrics.json and photo_confusion.png report them and the 'not
sure' threshold is chosen. An option the recipe does not take is refused. For a model of your own classes, see
fmnist train-own."""

TRAIN_OWN_HELP = """Train a model of your own classes: the labels are PHOTOS' folder names (docs/your-own-classes.md).

--backbone chooses the tier (see its help). The 28x28 tier starts from a Fashion-MNIST backbone, gives it a new
head and fine-tunes on the photos' grey cut-outs. A photo tier learns a head on a pretrained backbone's ImageNet
features of the photos' colour centre squares, then fine-tunes its top blocks. Either way the model records its
preprocessing, and classify, live and bench use it unchanged. Then export it: fmnist export runs/own --int8"""


PHOTOS = "Real photos"  # the options of train that bring photos in


def _help(text: str, command: str, family: Family) -> str:
    return "\n\n".join([text, *(f"Example: fmnist {command} {example}" for example in family.examples())])


def register(app: typer.Typer) -> None:
    add_command(app, train, help=_help(TRAIN_HELP, "train", TRAIN))
    add_command(app, train_own, "train-own", help=_help(TRAIN_OWN_HELP, "train-own", TRAIN_OWN))


def _run(family: Family, name: str, ctx: typer.Context, *skip: str) -> None:
    """Fit recipe `name` with the options given on the command line (all but `skip`: the one that chose it) and
    say how it went."""
    given = {option: value for option, value in ctx.params.items() if option not in skip}
    cfg = family.configure(name, given, command_line())  # refused here, before TensorFlow is imported
    from fmnist.train.run import train as run

    card = run(cfg, lambda line: typer.echo(line, err=True))
    for line in cfg.recipe.report(cfg, card):
        typer.echo(line)


def train(
    ctx: typer.Context,
    model: ModelName = typer.Option(TRAIN.default, "--model", "-m", metavar="NAME",
                                    help=f"The recipe. {TRAIN.listing()}."),
    epochs: int | None = typer.Option(None, "--epochs", metavar="N", min=1, help=f"Epochs ({TRAIN.note('epochs')})."),
    batch_size: int | None = typer.Option(None, "--batch-size", metavar="N", min=1,
                                          help=f"Batch size ({TRAIN.note('batch_size')})."),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Seed for the split, shuffling, augmentation and weights."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False,
                                    help=f"Run folder (default {TRAIN.out_note()})."),
    val_split: float | None = typer.Option(None, "--val-split", metavar="X", min=0.01, max=0.9,
                                           help="Stratified share of training images held out for validation "
                                                f"({TRAIN.note('val_split')})."),
    limit: int | None = typer.Option(None, "--limit", metavar="N", min=20,
                                     help="Learn from a stratified subset of N Fashion-MNIST training images, for "
                                          f"quick checks ({TRAIN.note('limit', 'all')})."),
    photos: Path | None = typer.Option(None, "--photos", rich_help_panel=PHOTOS, exists=True, file_okay=False,
                                       help="Also learn from real photos: a folder with one subfolder per class."),
    photos_val: Path | None = typer.Option(None, "--photos-val", rich_help_panel=PHOTOS, exists=True, file_okay=False,
                                           help="Photos to report on and to choose the 'not sure' threshold with "
                                                "(never trained on)."),
    photo_map: Path | None = typer.Option(None, "--photo-map", rich_help_panel=PHOTOS, exists=True, dir_okay=False,
                                          help="JSON {folder: [labels]} (default: the clothing photo set's "
                                               "folders; [] means 'not sure')."),
    photo_share: float | None = typer.Option(None, "--photo-share", rich_help_panel=PHOTOS, metavar="X", min=0.01,
                                             max=0.9, help="Share of each epoch's samples that are photos "
                                                           f"({TRAIN.note('photo_share')})."),
    photo_epochs: int | None = typer.Option(None, "--photo-epochs", rich_help_panel=PHOTOS, metavar="N", min=1,
                                            help="Photos join for the last N epochs "
                                                 f"({TRAIN.note('photo_epochs', 'all')})."),
    coverage: float | None = typer.Option(None, "--coverage", rich_help_panel=PHOTOS, metavar="X", min=0.05, max=1.0,
                                          help="The 'not sure' threshold answers this share of mapped --photos-val "
                                               f"photos ({TRAIN.note('coverage')})."),
    size: int | None = typer.Option(None, "--size", metavar="N", min=32, max=512,
                                    help=f"The input side in pixels, a multiple of 32 ({TRAIN.note('size')})."),
    data_dir: Path | None = DataDir,
) -> None:
    """fmnist train: the help is TRAIN_HELP and the registry's examples (register)."""
    _run(TRAIN, model.value, ctx, "model")


def train_own(
    ctx: typer.Context,
    photos: Path = typer.Argument(..., exists=True, file_okay=False, metavar="PHOTOS",
                                  help="A folder with one subfolder of photos per class; the folder names are the "
                                       "labels (2 to 50)."),
    photos_val: Path | None = typer.Option(None, "--photos-val", exists=True, file_okay=False,
                                           help="Photos to report on and choose the 'not sure' threshold with, in "
                                                "the same class folders (default: hold out --holdout of each)."),
    out: Path | None = typer.Option(None, "--out", "-o", file_okay=False,
                                    help=f"Run folder (default {TRAIN_OWN.out_note()})."),
    backbone: TierName = typer.Option(TRAIN_OWN.default, "--backbone", "-b", metavar="NAME",
                                      help=f"{TRAIN_OWN.listing()}."),
    size: int | None = typer.Option(None, "--size", metavar="N", min=32, max=512,
                                    help=f"The input side in pixels, a multiple of 32 ({TRAIN_OWN.note('size')}; "
                                         "others are measured in docs/your-own-classes.md)."),
    init: Path | None = typer.Option(None, "--init", exists=True, dir_okay=False,
                                     help="The .keras model of an fmnist train run to start from "
                                          f"({TRAIN_OWN.note('init', 'the shipped network')})."),
    epochs: int | None = typer.Option(None, "--epochs", metavar="N", min=1,
                                      help=f"Epochs ({TRAIN_OWN.note('epochs')}; a photo tier's are fine-tuning "
                                           "epochs)."),
    batch_size: int | None = typer.Option(None, "--batch-size", metavar="N", min=1,
                                          help=f"Batch size ({TRAIN_OWN.note('batch_size')})."),
    holdout: float | None = typer.Option(None, "--holdout", metavar="X", min=0.05, max=0.5,
                                         help="Without --photos-val: share of each folder held out "
                                              f"({TRAIN_OWN.note('holdout')})."),
    per_class: int | None = typer.Option(None, "--per-class", metavar="N", min=1,
                                         help="Learn from at most N photos per folder."),
    seed: int = typer.Option(0, "--seed", metavar="N",
                             help="Seed for the hold-out, shuffling, augmentation and the head."),
    coverage: float | None = typer.Option(None, "--coverage", metavar="X", min=0.05, max=1.0,
                                          help="The 'not sure' threshold answers this share of held-out photos "
                                               f"({TRAIN_OWN.note('coverage')})."),
) -> None:
    """fmnist train-own: the help is TRAIN_OWN_HELP and the registry's examples (register)."""
    _run(TRAIN_OWN, backbone.value, ctx, "backbone")
