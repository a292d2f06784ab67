"""The photo tier: a pretrained backbone (fmnist.train.backbones) with a new head, trained in two phases. It fits
`fmnist train-own --backbone NAME` (`fit_own_photos`) and the photo model (fmnist.train.photo_model).

1. Frozen features: the backbone's pooled features of the photos are computed once and a linear head learns on
   them. A good model in about a minute.
2. Fine-tuning: the blocks after the boundary (`Backbone.tune_from`, or the recipe's) and the head learn from
   augmented views of the photos (flip, zoom, shift, brightness, contrast). The layers below the boundary stay
   frozen, so each view's boundary activations are computed once (VIEWS passes) and every epoch runs only
   the top of the network. Batch norm keeps its ImageNet statistics throughout (a few thousand photos are too
   few to re-estimate them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fmnist.core.tf import keras
from fmnist.train.backbones import Backbone
from fmnist.train.draws import group_draws
from fmnist.train.exact_graph import exact_forward
from fmnist.train.loop import WEIGHT_DECAY, Fitted, Phase, fit, make_dataset, optimizer
from fmnist.train.own_data import OwnData
from fmnist.train.recipe import RunConfig

PASS_BATCH = 64  # images per forward pass below the boundary


@dataclass(frozen=True)
class TierRecipe:
    epochs: int = 5  # fine-tuning epochs over all views
    head_epochs: int = 30  # the frozen-feature head
    views: int = 3  # the photos as they are, and VIEWS - 1 augmented views
    batch_size: int = 64
    learning_rate: float = 5e-4  # fine-tuning, after a warm-up epoch, cosine to 0 (1e-3 and 3e-4: your-own-classes.md)
    head_learning_rate: float = 3e-3
    dropout: float = 0.3
    label_smoothing: float = 0.1
    tune_from: str | None = None  # the fine-tuning boundary (a layer's name); None: the backbone's (Backbone.tune_from)
    seed: int = 0
    progress: bool = True

    def boundary(self, backbone: Backbone) -> str:
        return self.tune_from or backbone.tune_from


def _argmax_hits(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return probs.argmax(1) == y.argmax(1)


@dataclass(frozen=True)
class Objective:
    """What the head learns and how it is scored. The default: one-hot labels, categorical cross-entropy. The
    photo model's (fmnist.train.photo_model): fmnist.train.photo_targets' candidate-set targets and
    fmnist.train.photo_loss's loss."""

    classes: int | None = None  # the head's width; None: the targets' width
    loss: Callable[[float], Any] | None = None  # label smoothing -> a keras loss; None: categorical cross-entropy
    metric: Callable[[], Any] | None = None  # -> a keras metric named "accuracy"; None: plain accuracy
    hits: Callable[[np.ndarray, np.ndarray], np.ndarray] = _argmax_hits  # (probs, targets) -> right, per row

    def compile_args(self, smoothing: float) -> dict[str, Any]:
        loss = self.loss(smoothing) if self.loss else keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        return {"loss": loss, "metrics": [self.metric() if self.metric else "accuracy"]}


PLAIN = Objective()


@dataclass(frozen=True)
class TierFitted:
    fitted: Fitted  # the whole network: (N, size, size, 3) normalised RGB -> probabilities
    frozen_accuracy: float  # the frozen-feature head alone, on the held-out photos
    frozen_seconds: float
    recipe: TierRecipe
    balanced: bool  # the photos drawn so that every folder weighs the same (fit_tier's groups)

    def record(self, backbone: Backbone, size: int) -> dict[str, Any]:
        """How it was made: the run card's `own_labels` recipe."""
        recipe = self.recipe
        return {"backbone": backbone.name, "size": size, "epochs": recipe.epochs, "head_epochs": recipe.head_epochs,
                "views": recipe.views, "batch_size": recipe.batch_size, "learning_rate": recipe.learning_rate,
                "fine_tuned_from": recipe.boundary(backbone), "frozen_head_accuracy": self.frozen_accuracy,
                "frozen_head_seconds": self.frozen_seconds, "folders_balanced": self.balanced,
                "augmentation": "flip, zoom, shift, brightness, contrast (precomputed views)", "seed": recipe.seed}


def view_augmenter(lo: float, hi: float, seed: int) -> Any:
    L = keras.layers
    return keras.Sequential([L.RandomFlip("horizontal", seed=seed), L.RandomZoom((-0.25, 0.0), seed=seed + 1),
                             L.RandomTranslation(0.08, 0.08, seed=seed + 2),
                             L.RandomBrightness(0.15, value_range=(lo, hi), seed=seed + 3),
                             L.RandomContrast(0.2, value_range=(lo, hi), seed=seed + 4)], name="augment")


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _passes(bottom: Any, x: np.ndarray, once: np.ndarray, backbone: Backbone, recipe: TierRecipe,
            to_input: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Boundary activations of `x` as it is and in views - 1 augmented views, then of `once` as it is, stacked
    (views * len(x) + len(once), ...). Images become model input a batch at a time (`to_input`)."""
    views, show = recipe.views, recipe.progress
    augment = view_augmenter(-backbone.mean / backbone.std, (255 - backbone.mean) / backbone.std, recipe.seed)
    work = [(x, view) for view in range(views)] + [(once, 0)]
    out = []
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    forward = exact_forward(bottom)  # the eager call's numbers in half its time (fmnist.train.exact_graph)
    with Progress(*columns, console=console, transient=True, disable=not (show and console.is_terminal)) as bar:
        task = bar.add_task("backbone features", total=views * len(x) + len(once))
        for images, view in work:
            for i in range(0, len(images), PASS_BATCH):
                chunk = to_input(images[i : i + PASS_BATCH])
                chunk = chunk if view == 0 else augment(chunk, training=True)
                out.append(forward(chunk))
                seen = f"view {view + 1}/{views}" if images is x else "rows seen once"
                bar.update(task, advance=len(chunk), description=f"backbone features, {seen}")
    return np.concatenate(out)


def _compiled(model: Any, learning_rate: float, steps: int, warmup: int, recipe: TierRecipe,
              objective: Objective) -> Any:
    model.compile(optimizer=optimizer("adamw", learning_rate, WEIGHT_DECAY, steps, warmup),
                  **objective.compile_args(recipe.label_smoothing))
    return model


def _train(model: Any, x: np.ndarray, y: np.ndarray, held: tuple[np.ndarray, np.ndarray], epochs: int,
           learning_rate: float, recipe: TierRecipe, objective: Objective, title: str, warmup: bool = False) -> Fitted:
    """Fit on (x, y), reporting on `held` each epoch under `title`; with `warmup` the rate rises from 0 over the
    first epoch."""
    data = Phase(epochs, make_dataset(x, y, recipe.batch_size, train=True, augment=False, seed=recipe.seed), len(x))
    per_epoch = data.steps(recipe.batch_size)
    _compiled(model, learning_rate, epochs * per_epoch, per_epoch if warmup else 0, recipe, objective)
    validation = make_dataset(*held, 256, train=False, augment=False, seed=0)
    return fit(model, [data], validation, recipe.batch_size, recipe.progress, title)


@dataclass(frozen=True)
class _Head:
    dropout: Any
    dense: Any  # one output per label
    softmax: Any

    def __call__(self, features: Any) -> Any:
        return self.softmax(self.dense(self.dropout(features)))


def _split(backbone: Backbone, size: int, tune_from: str) -> tuple[Any, Any, Any]:
    """(the whole backbone, the frozen part below its boundary, the part above it that fine-tunes). Batch norm
    stays frozen everywhere."""
    full = backbone.build(size)
    boundary = full.get_layer(tune_from).output
    bottom, top = keras.Model(full.input, boundary), keras.Model(boundary, full.output)
    for layer in full.layers:
        layer.trainable = layer in top.layers and not isinstance(layer, keras.layers.BatchNormalization)
    return full, bottom, top


def _frozen_head(head: _Head, pooled: np.ndarray, y: np.ndarray, held: tuple[np.ndarray, np.ndarray],
                 recipe: TierRecipe, objective: Objective) -> tuple[Fitted, float]:
    """Train the head alone on pooled features; (its fit, its held-out accuracy)."""
    features = keras.Input(pooled.shape[1:], name="features")
    model = keras.Model(features, head(features), name="head")
    fitted = _train(model, pooled, y, held, recipe.head_epochs, recipe.head_learning_rate, recipe, objective,
                    "the head, on the backbone's features")
    accuracy = float(objective.hits(model.predict(held[0], verbose=0), held[1]).mean())
    return fitted, accuracy


@dataclass(frozen=True)
class Once:
    """Training rows seen once, as they are (no augmented views): images many enough, or varied enough when they
    were made (fmnist.evaluation.render), not to need views."""

    x: np.ndarray
    y: np.ndarray


def balanced_rows(views: int, n_once: int, groups: np.ndarray, seed: int) -> np.ndarray:
    """Rows of _passes' output: the photos' `views` views drawn as many times in all, every group (folder) equally
    often (fmnist.train.draws.group_draws), then the rows seen once."""
    n = views * len(groups)
    return np.r_[group_draws(np.tile(groups, views), n, True, seed), n : n + n_once]


def fit_tier(backbone: Backbone, size: int, x: np.ndarray, y: np.ndarray, x_held: np.ndarray, y_held: np.ndarray,
             recipe: TierRecipe, objective: Objective = PLAIN, once: Once | None = None,
             to_input: Callable[[np.ndarray], np.ndarray] = _identity, groups: np.ndarray | None = None) -> TierFitted:
    """x (N, size, size, 3) images and y their targets (one-hot by default: `objective`), seen in recipe.views
    views; `once`, more rows seen once; the same for the held-out photos (reported on each epoch). `to_input`
    makes images model input (normalised RGB), a batch at a time; by default they already are. With `groups`
    (each x row's folder), x's rows are drawn so that every folder weighs the same, in both phases."""
    if groups is not None and len(groups) != len(x):
        raise ValueError(f"groups: one per photo, got {len(groups)} for {len(x)} photos")
    once = once or Once(x[:0], y[:0])
    full, bottom, top = _split(backbone, size, recipe.boundary(backbone))
    acts = _passes(bottom, x, once.x, backbone, recipe, to_input)
    acts_held = np.asarray(bottom.predict(to_input(x_held), batch_size=PASS_BATCH, verbose=0))
    head = _Head(keras.layers.Dropout(recipe.dropout, name="head_dropout"),
                 keras.layers.Dense(objective.classes or y.shape[1], name="own_logits"),
                 keras.layers.Softmax(name="probs"))
    targets = np.concatenate([np.tile(y, (recipe.views, 1)), once.y])
    first = np.r_[0 : len(x), recipe.views * len(x) : len(acts)]  # each row's view as it is
    if groups is not None:
        first = first[balanced_rows(1, len(once.x), groups, recipe.seed)]
    pooled = np.asarray(top.predict(acts[first], batch_size=256, verbose=0))
    pooled_held = np.asarray(top.predict(acts_held, batch_size=256, verbose=0))
    frozen, frozen_accuracy = _frozen_head(head, pooled, targets[first], (pooled_held, y_held), recipe, objective)

    inputs = keras.Input(acts.shape[1:], name="boundary")
    tuned = keras.Model(inputs, head(top(inputs)), name="tuned")
    # the pretrained blocks start at the rate's full size only after a warm-up epoch: at once, Adam's first steps
    # knocked the held-out accuracy from 86 % to 77 % (all photos) and from 80 % to 54 % (30 per class)
    if groups is not None:
        rows = balanced_rows(recipe.views, len(once.x), groups, recipe.seed)
        acts, targets = acts[rows], targets[rows]
    tune = _train(tuned, acts, targets, (acts_held, y_held), recipe.epochs, recipe.learning_rate, recipe, objective,
                  "fine-tuning the top blocks", warmup=True)
    model = keras.Model(full.input, head.softmax(head.dense(full.output)), name=f"{backbone.name}_own")
    history = {k: frozen.history.get(k, []) + tune.history.get(k, []) for k in tune.history}
    return TierFitted(Fitted(model, history, frozen.seconds + tune.seconds), round(frozen_accuracy, 4),
                      round(frozen.seconds, 1), recipe, groups is not None)


def fit_own_photos(cfg: RunConfig, data: OwnData, backbone: Backbone) -> tuple[Fitted, dict[str, Any]]:
    """`train-own --backbone NAME`: the photo tier on the photos' one-hot labels; (the fit, how it was made)."""
    recipe = TierRecipe(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed, progress=cfg.progress)
    x, y, x_held, y_held = data.arrays()
    tier = fit_tier(backbone, data.preparation.size, x, y, x_held, y_held, recipe)
    return tier.fitted, tier.record(backbone, data.preparation.size)
