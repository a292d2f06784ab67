"""The layers hold: no module of fmnist imports one above its own layer, not even lazily in a function.

Bottom up: the base (every top-level module not named below) < runtime < evaluation (the one harness that
runs any model file, and the reports on it) < train < export < the top (bench, the bundle and the CLI).
A new folder under fmnist/ must be given its layer here before its imports can pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fmnist"
LAYERS = ["base", "runtime", "evaluation", "train", "export", "top"]
FOLDERS = {"runtime": "runtime", "evaluation": "evaluation", "train": "train", "export": "export", "bench": "top",
           "assets": "base"}
TOP_MODULES = {"cli", "cli_common", "cli_runtime", "__main__", "bundle"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "base"  # the package itself: its version
    if (PACKAGE / parts[1]).is_dir():
        if parts[1] not in FOLDERS:
            raise AssertionError(f"fmnist/{parts[1]}/ has no layer: add it to FOLDERS in {Path(__file__).name}")
        return FOLDERS[parts[1]]
    return "top" if parts[1] in TOP_MODULES else "base"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every fmnist module a file imports, anywhere in it (top level, functions, branches)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "fmnist"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "fmnist":
            for alias in node.names:  # `from fmnist import data` names a module; `from fmnist import __version__` not
                candidate = f"{node.module}.{alias.name}"
                target = PACKAGE.parent.joinpath(*candidate.split("."))
                is_module = target.with_suffix(".py").is_file() or target.is_dir()
                found.append((node.lineno, candidate if is_module else node.module))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_seen():
    assert len(SOURCES) > 40 and {"fmnist.cli", "fmnist.runtime.preprocess", "fmnist.meta"} <= {
        module_name(p) for p in SOURCES}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_import_climbs_a_layer(path):
    source = module_name(path)
    rank = LAYERS.index(layer_of(source))
    climbs = [f"{path.name}:{line} imports {target} ({layer_of(target)}) from the {layer_of(source)} layer"
              for line, target in imported_modules(ast.parse(path.read_text()))
              if LAYERS.index(layer_of(target)) > rank]
    assert not climbs, "\n".join(climbs)


def test_the_checker_catches_a_climb():
    """A lazy import from the base into the runtime, inside a function, is caught."""
    tree = ast.parse("def f():\n    from fmnist.runtime.session import make_session\n    from fmnist import data\n")
    targets = [t for _, t in imported_modules(tree)]
    assert targets == ["fmnist.runtime.session", "fmnist.data"]
    assert LAYERS.index(layer_of(targets[0])) > LAYERS.index(layer_of("fmnist.meta"))
