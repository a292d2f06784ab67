"""What a recipe is: the one shape every entry of the recipe registry (fmnist.train.registry) has, and the one
config every run is given.

A recipe owns the options it takes and their defaults (`defaults`), its own checks (`check`), the files its run
folder holds besides the common four (`files`), its fit (`fit`: the trained model, its metrics and its files'
writers; fmnist.train.run writes them) and what is said of its run card (`summary`). `Family.configure` turns
the options a user gave into a RunConfig: an option the recipe does not take is refused (exit 2), every option
it takes gets its default. Importing this module does not import TensorFlow; `fit` does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fmnist.core.errors import UsageError
from fmnist.train.run_folder import COMMON

if TYPE_CHECKING:  # for type hints only: these import TensorFlow or the evaluation layer's figures
    from fmnist.core.owned import OwnedFile
    from fmnist.evaluation.run_card import RunCard
    from fmnist.runtime.kind import Preparation
    from fmnist.train.loop import Fitted


@dataclass(frozen=True)
class RunConfig:
    """One run, whatever its recipe. The options after `seed` are each taken by some recipes (Recipe.defaults):
    for a recipe that does not take one it stays None, for one that does it holds the given value or the
    recipe's default, so a fit reads the options it takes without a fallback of its own."""

    recipe: Recipe
    out: Path
    command: str = ""  # the command line that ran this, recorded for reproducibility
    progress: bool = True
    seed: int = 0  # the split, shuffling, augmentation and weights
    epochs: int | None = None
    batch_size: int | None = None
    photos: Path | None = None  # class folders of real photos to learn from
    photos_val: Path | None = None  # photos to report on and choose the "not sure" threshold with
    coverage: float | None = None  # the "not sure" threshold answers this share of those photos
    photo_map: Path | None = None  # folder -> Fashion-MNIST labels (None: fmnist/assets/photo_map.json)
    data_dir: Path | None = None  # the Fashion-MNIST IDX files (None: fmnist.data.fashion.locate's search)
    limit: int | None = None  # learn from a stratified subset of this many Fashion-MNIST training images
    val_split: float | None = None  # the share of those held out for validation
    photo_share: float | None = None  # the share of each mixed epoch's samples that are photos
    photo_epochs: int | None = None  # photos join for the last N epochs (None: all of them)
    size: int | None = None  # the input side of a colour model
    init: Path | None = None  # a .keras run to start from (None: the shipped edge backbone)
    holdout: float | None = None  # without photos_val: the share of each folder held out
    per_class: int | None = None  # learn from at most this many photos per folder


NOT_OPTIONS = ("recipe", "out", "command", "progress", "seed")  # RunConfig fields every recipe takes
OPTIONS = tuple(f.name for f in fields(RunConfig) if f.name not in NOT_OPTIONS)


def check_backbone_size(size: int | None) -> None:
    """A backbone's --size: a multiple of 32, as it halves the picture five times (UsageError otherwise)."""
    if size is not None and size % 32:
        raise UsageError(f"--size {size}: give a multiple of 32 (the backbone halves the picture five times)")


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


@dataclass(frozen=True)
class Trained:
    """What a recipe's fit gives the run path (fmnist.train.run): the model and its history, metrics.json's
    content, the preprocessing its model takes, and a writer for each of the recipe's files (Recipe.files)."""

    fitted: Fitted
    metrics: dict[str, Any]
    preparation: Preparation
    files: dict[str, Callable[[OwnedFile], None]] = field(default_factory=dict)


class Recipe(ABC):
    name: str
    about: str  # one phrase: the help of the option that chooses it
    out: str  # the default run folder
    examples: tuple[str, ...] = ()  # command lines of its own, for the command's help (after `fmnist COMMAND`)

    @property
    @abstractmethod
    def defaults(self) -> Mapping[str, Any]:
        """The options it takes (OPTIONS), each with its default."""

    def check(self, cfg: RunConfig) -> None:  # noqa: B027 (a hook, not abstract: a recipe may check nothing)
        """Refuse (UsageError) what it cannot run, before anything is read; nothing by default."""

    @abstractmethod
    def files(self, cfg: RunConfig) -> tuple[str, ...]:
        """The files its run folder holds besides COMMON, known before it trains."""

    @abstractmethod
    def fit(self, cfg: RunConfig) -> Trained:
        """Read the data, train and judge the model."""

    @abstractmethod
    def summary(self, card: RunCard) -> list[str]:
        """What is said of the run once it is written: its figures."""

    def report(self, cfg: RunConfig, card: RunCard) -> list[str]:
        """`summary`, then the files written and what to do next."""
        return [*self.summary(card), f"wrote {card.folder}/: {' '.join((*COMMON, *self.files(cfg)))}; next: "
                                     f"fmnist export {card.folder} --int8"]


@dataclass(frozen=True)
class Family:
    """The recipes a command chooses from, by the option that names one (`--model`, `--backbone`)."""

    option: str
    recipes: dict[str, Recipe]
    default: str

    def takers(self, option: str) -> list[str]:
        return [name for name, recipe in self.recipes.items() if option in recipe.defaults]

    def configure(self, name: str, given: Mapping[str, Any], command: str = "", progress: bool = True) -> RunConfig:
        """The run of recipe `name` with the options `given` (None: not given); refused (UsageError) if it
        does not take one of them or its check fails."""
        recipe = self.recipes[name]
        chosen = {k: v for k, v in given.items() if v is not None}
        for option in chosen.keys() - {*NOT_OPTIONS, *recipe.defaults}:
            takers = self.takers(option)
            raise UsageError(f"{flag(option)} is not an option of {self.option} {name}; "
                             f"{self.option} {', '.join(takers)} take{'s' if len(takers) == 1 else ''} it")
        out = Path(chosen.pop("out", None) or Path("runs") / recipe.out)
        cfg = RunConfig(recipe, out, command, progress, **{**recipe.defaults, **chosen})
        recipe.check(cfg)
        return cfg

    def note(self, option: str, none: str = "none") -> str:
        """An option's help, its tail: which recipes take it (when not all) and their defaults, `none` for a
        default of None; e.g. "default 36 for edge; 5 for cnn"."""
        takers = self.takers(option)
        values: dict[str, list[str]] = {}
        for name in takers:
            values.setdefault(_shown(self.recipes[name].defaults[option], none), []).append(name)
        only = [] if len(takers) == len(self.recipes) else [f"only {self.option} {', '.join(takers)}"]
        if len(values) == 1:
            return "; ".join([*only, f"default {next(iter(values))}"])
        return "; ".join([*only, "default " + "; ".join(f"{v} for {', '.join(names)}" for v, names in values.items())])

    def out_note(self) -> str:
        """The default run folder, in words."""
        folders = {recipe.out for recipe in self.recipes.values()}
        return f"runs/{folders.pop()}" if len(folders) == 1 else f"runs/{self.option.lstrip('-').upper()}"

    def listing(self) -> str:
        """Each recipe and what it is, for the help of the option that chooses one."""
        return "; ".join(f"{name}: {recipe.about}" for name, recipe in self.recipes.items())

    def examples(self) -> list[str]:
        return [example for recipe in self.recipes.values() for example in recipe.examples]


def _shown(value: Any, none: str) -> str:
    if value is None:
        return none
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
