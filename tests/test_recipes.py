"""The recipe registry (fmnist.train.registry) drives `train` and `train-own`: their choices come from it, an
option a recipe does not take is refused with one usage line (never silently ignored), every option a recipe takes
reaches its config (given, or the recipe's default), and no code in fmnist/cli/ asks which recipe it has."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import typer.main
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.train.recipe import OPTIONS, Family, flag
from fmnist.train.registry import TRAIN, TRAIN_OWN

runner = CliRunner()
COMMANDS = {"train": TRAIN, "train-own": TRAIN_OWN}
CLI = Path(__file__).resolve().parent.parent / "fmnist" / "cli"


def cli_options(command: str) -> list[str]:
    """The command's options that are recipe options."""
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    return [p.name for p in params if p.name in OPTIONS and flag(p.name) in p.opts]


def a_value(option: str, tmp_path: Path) -> str:
    """A value the option's own type accepts, so that only the recipe can refuse it."""
    (tmp_path / "given.keras").write_bytes(b"PK\x03\x04 a model")
    (tmp_path / "map.json").write_text("{}")
    files = {"init": "given.keras", "photo_map": "map.json"}
    numbers = {"epochs": "2", "batch_size": "8", "limit": "100", "val_split": "0.2", "photo_share": "0.3",
               "photo_epochs": "1", "coverage": "0.9", "size": "64", "holdout": "0.2", "per_class": "5"}
    return numbers.get(option) or str(tmp_path / files.get(option, ""))


def refusals() -> list[tuple[str, str, str]]:
    return [(command, name, option) for command, family in COMMANDS.items() for name, recipe in family.recipes.items()
            for option in cli_options(command) if option not in recipe.defaults]


def invoke(command: str, name: str, tmp_path: Path, *args: str):
    family = COMMANDS[command]
    head = [command] if command == "train" else [command, str(tmp_path)]
    return runner.invoke(app, [*head, family.option, name, *args])


@pytest.mark.parametrize(("command", "name", "option"), refusals(), ids=lambda v: str(v))
def test_an_option_the_recipe_does_not_take_is_refused_with_one_line(command, name, option, tmp_path):
    """Among them the photo model's --val-split, --photo-share and --photo-epochs, and --size for a 28x28 network,
    which were silently ignored."""
    family = COMMANDS[command]
    got = invoke(command, name, tmp_path, flag(option), a_value(option, tmp_path))
    assert got.exit_code == 2, got.output
    assert got.stderr.count("\n") == 1 and "Traceback" not in got.output
    takers = ", ".join(family.takers(option))
    assert got.stderr.startswith(f"error: {flag(option)} is not an option of {family.option} {name}; "
                                 f"{family.option} {takers} take"), got.stderr


def test_the_photo_model_without_its_photos_is_a_usage_error(tmp_path):
    got = invoke("train", "photo", tmp_path, "--photos", str(tmp_path))
    assert got.exit_code == 2 and "give --photos DIR and --photos-val DIR" in got.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_a_recipe_takes_reaches_its_config(command, tmp_path):
    """Given, it is the value given; not given, the recipe's default; an option the recipe does not take stays
    None; the run folder defaults to runs/ and the recipe's own."""
    family: Family = COMMANDS[command]
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("hat", "pants"))
    for name, recipe in family.recipes.items():
        must = {"photos": photos, "photos_val": photos}
        cfg = family.configure(name, {k: v for k, v in must.items() if k in recipe.defaults})
        assert cfg.recipe is recipe and cfg.out == Path("runs") / recipe.out
        for option in OPTIONS:
            expected = must.get(option, recipe.defaults.get(option))
            assert getattr(cfg, option) == expected, (name, option)
        given = family.configure(name, {"epochs": 3, "seed": 7, **must, "out": tmp_path / "run"})
        assert (given.epochs, given.seed, given.out) == (3, 7, tmp_path / "run")


def test_no_code_in_cli_branches_on_a_recipe_name():
    """No comparison, membership test, subscript or match case in fmnist/cli/ holds a recipe's name."""
    names = {name for family in COMMANDS.values() for name in family.recipes}
    found = []
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
            elif isinstance(node, ast.Subscript):
                operands = [node.slice]
            elif isinstance(node, ast.MatchValue):
                operands = [node.value]
            else:
                continue
            values = [c.value for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant)]
            found += [f"{path.name}:{node.lineno} {v!r}" for v in values if v in names]
    assert not found, found
