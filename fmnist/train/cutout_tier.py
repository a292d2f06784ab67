"""The 28x28 tier of `fmnist train-own` (`--backbone edge`, the default): it starts from a Fashion-MNIST backbone
(the shipped edge model's weights, or `--init RUN/model.keras`), replaces the 10-way head with one output per
folder, and fine-tunes the whole network on the photos' grey cut-outs (each through the runtime's own
preprocessing, cached), with shift/flip, random erasing and photo-like light augmentation."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fmnist.core.errors import ModelError
from fmnist.core.meta import INPUT_SHAPE
from fmnist.core.tf import keras
from fmnist.evaluation.predictors import load_keras
from fmnist.train.loop import WEIGHT_DECAY, Fitted, Phase, fit, make_dataset, optimizer
from fmnist.train.models import REGISTRY
from fmnist.train.own_data import OwnData
from fmnist.train.recipe import RunConfig

BACKBONE = "edge.weights.h5"  # in fmnist/assets: the shipped edge model's weights (make model writes it)
LEARNING_RATE = 2e-3
ERASE = 0.5  # random-erasing probability
LABEL_SMOOTHING = 0.1


def backbone(init: Path | None) -> Any:
    """A Fashion-MNIST-trained model whose last Dense layer is named "logits": `init` (a .keras run), or the
    shipped edge model's network."""
    if init is not None:
        model = load_keras(init)  # safe mode: a Lambda layer's code is refused; a bad file is one ModelError line
        why = _unusable(model)
        if why:
            raise ModelError(f"--init {init}: not a Fashion-MNIST model of fmnist train ({why}); give a run's "
                             "model.keras, e.g. runs/edge/model.keras")
        return model
    model = REGISTRY["edge"].build()
    model.load_weights(str(resources.files("fmnist") / "assets" / BACKBONE))
    return model


def _unusable(model: Any) -> str | None:
    """Why a loaded model cannot take a new head here (None: it can): one 28x28x1 input, and a Dense layer named
    "logits" on a feature vector."""
    if len(model.inputs) != 1 or tuple(model.inputs[0].shape) != (None, *INPUT_SHAPE):
        return f"its input is {[tuple(x.shape) for x in model.inputs]}, not one 28x28x1 image"
    if "logits" not in {layer.name for layer in model.layers}:
        return "it has no layer named logits to replace"
    logits = model.get_layer("logits")
    if not isinstance(logits, keras.layers.Dense) or len(logits.input.shape) != 2:
        return "its logits layer is not a Dense layer on a feature vector"
    return None


def with_new_head(base: Any, classes: int) -> Any:
    features = base.get_layer("logits").input
    logits = keras.layers.Dense(classes, name="own_logits")(features)
    return keras.Model(base.input, keras.layers.Softmax(name="probs")(logits), name=f"{base.name}_own")


def fit_cutout(cfg: RunConfig, data: OwnData) -> tuple[Fitted, dict[str, Any]]:
    """The Fashion-MNIST backbone with a new head, fine-tuned on the grey cut-outs; (the fit, how it was made)."""
    epochs, batch = cfg.epochs, cfg.batch_size  # both taken, with the tier's defaults
    x, y, x_held, y_held = data.arrays()
    model = with_new_head(backbone(cfg.init), len(data.labels))
    learn = Phase(epochs, make_dataset(x, y, batch, train=True, augment=True, seed=cfg.seed,
                                       erase=ERASE, light=True, all_photos=True), len(x))
    steps = epochs * learn.steps(batch)
    model.compile(optimizer=optimizer("adamw", LEARNING_RATE, WEIGHT_DECAY, steps),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING), metrics=["accuracy"])
    held = make_dataset(x_held, y_held, 512, train=False, augment=False, seed=0)
    recipe = {"backbone": cfg.recipe.name, "init": str(cfg.init or f"shipped edge backbone ({BACKBONE})"),
              "epochs": epochs, "batch_size": batch, "learning_rate": LEARNING_RATE,
              "augmentation": f"shift, flip, photo-like light, random erasing {ERASE}", "seed": cfg.seed}
    return fit(model, [learn], held, batch, cfg.progress), recipe

