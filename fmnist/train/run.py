"""The one way a run is written, whatever its recipe (fmnist.train.registry): the run folder checked before
anything is read or TensorFlow is loaded (fmnist.train.run_folder), the recipe's fit, then the files every run
writes (model.keras, history.json, metrics.json with the preprocessing record and provenance, curves.png) and the
recipe's own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fmnist.core.errors import escaped
from fmnist.core.formats import is_export_output
from fmnist.core.owned import OwnedFolder
from fmnist.core.signals import whole
from fmnist.evaluation.run_card import RunCard
from fmnist.runtime.kind import Preparation
from fmnist.train import plots
from fmnist.train.provenance import provenance
from fmnist.train.recipe import RunConfig
from fmnist.train.run_folder import COMMON, check_apart, run_folder

if TYPE_CHECKING:  # TensorFlow loads with the recipe's fit, after the run folder is checked
    from fmnist.train.loop import Fitted


def write_run(out: OwnedFolder, fitted: Fitted, metrics: dict[str, Any], preparation: Preparation) -> dict[str, Any]:
    """model.keras, history.json, metrics.json (with the preprocessing record and provenance) and curves.png.
    Returns metrics.json's content."""
    metrics = {**metrics, "preprocess": preparation.record(), **provenance()}
    with out.writing("model.keras") as tmp:
        fitted.model.save(tmp)
    out.write_json("history.json", fitted.history)
    out.write_json("metrics.json", metrics)
    plots.curves(fitted.history, out / "curves.png")
    return metrics


def train(cfg: RunConfig, say: Callable[[str], None] = lambda line: None) -> RunCard:
    """Fit cfg's recipe and write its run folder (cfg.out); returns the run's card. What an earlier export left in
    the folder (made from the model this run replaces) is named through `say`: it no longer matches model.keras."""
    recipe = cfg.recipe
    files = recipe.files(cfg)
    check_apart(cfg.out, (cfg.photos, cfg.photos_val))
    out = run_folder(cfg.out, files)  # a file of yours there is refused before anything is read
    trained = recipe.fit(cfg)
    if set(trained.files) != set(files):
        raise RuntimeError(f"{recipe.name} wrote {sorted(trained.files)}, not the files it declared: {sorted(files)}")
    with whole():  # Ctrl-C or SIGTERM here takes effect once every file is written: never half of two runs
        metrics = write_run(out, trained.fitted, trained.metrics, trained.preparation)
        for name, write in trained.files.items():
            write(out / name)
    stale = [name for name in out.recorded(is_export_output) if name not in (*COMMON, *files)]
    if stale:
        them = "it no longer matches" if len(stale) == 1 else "they no longer match"
        say(f"note: {escaped(out.folder)} still holds what an earlier export wrote there: "
            f"{', '.join(escaped(name) for name in stale)}; made from an earlier model, {them} model.keras: remove "
            f"{'it' if len(stale) == 1 else 'them'}, then run fmnist export on this folder again")
    return RunCard.from_metrics(out.folder, metrics)
