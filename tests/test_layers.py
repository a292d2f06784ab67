"""The layers hold: `ls fmnist/` shows them, and no module imports one of a higher layer, not even lazily.

Bottom up, a folder each: core < data < runtime < runtime/video < runtime/video/http < evaluation < train < export
< deploy < cli.
The package root holds only __init__ (the version) and __main__ (python -m fmnist). A new folder under fmnist/
must be given its place in LAYERS before its imports can pass. Within a layer, no modules import each other in
a circle, again counting every import (lazy, or for type hints only).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fmnist"
LAYERS = ["core", "data", "runtime", "runtime.video", "runtime.video.http", "evaluation", "train", "export", "deploy",
          "cli"]
ROOT_MODULES = {"fmnist": "core", "fmnist.__main__": "cli"}  # the version; `python -m fmnist`
DATA_FOLDERS = {"assets"}  # no code


def layer_of(module: str) -> str:
    """The layer a module belongs to: the longest entry of LAYERS its dotted path starts with."""
    if module in ROOT_MODULES:
        return ROOT_MODULES[module]
    inside = module.split(".", 1)[1]
    matches = [layer for layer in LAYERS if inside == layer or inside.startswith(layer + ".")]
    if not matches:
        raise AssertionError(f"{module} is in no layer folder; put it in one of {', '.join(LAYERS)}")
    return max(matches, key=len)


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
            for alias in node.names:  # `from fmnist.data import fashion` names a module; `import __version__` not
                candidate = f"{node.module}.{alias.name}"
                target = PACKAGE.parent.joinpath(*candidate.split("."))
                is_module = target.with_suffix(".py").is_file() or target.is_dir()
                found.append((node.lineno, candidate if is_module else node.module))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_root_shows_the_layers():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {layer.split(".")[0] for layer in LAYERS} | DATA_FOLDERS
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py"}


def test_every_module_is_seen():
    names = {module_name(p) for p in SOURCES}
    assert len(SOURCES) > 50 and {"fmnist.cli", "fmnist.runtime.cutout", "fmnist.core.meta"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_import_climbs_a_layer(path):
    source = module_name(path)
    rank = LAYERS.index(layer_of(source))
    climbs = [f"{path.name}:{line} imports {target} ({layer_of(target)}) from the {layer_of(source)} layer"
              for line, target in imported_modules(ast.parse(path.read_text()))
              if LAYERS.index(layer_of(target)) > rank]
    assert not climbs, "\n".join(climbs)


def test_the_checker_catches_a_climb():
    """A lazy import from the runtime into its video layer, inside a function, is caught; a module outside
    every folder is refused."""
    tree = ast.parse("def f():\n    from fmnist.runtime.video.scene import ScenePreprocess\n"
                     "    from fmnist.data import fashion\n")
    targets = [t for _, t in imported_modules(tree)]
    assert targets == ["fmnist.runtime.video.scene", "fmnist.data.fashion"]
    assert LAYERS.index(layer_of(targets[0])) > LAYERS.index(layer_of("fmnist.runtime.classifier"))
    with pytest.raises(AssertionError, match="no layer folder"):
        layer_of("fmnist.helpers")


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `graph` (module -> the modules it imports): each a path that comes back to where
    it starts, one per group of modules that reach each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(group) > 1 or module in graph.get(module, ()):
                found.append(_loop(graph, set(group), min(group)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _loop(graph: dict[str, set[str]], group: set[str], start: str) -> list[str]:
    """A shortest path from `start` back to itself through `group`, for the message."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        module = frontier.pop(0)
        for target in sorted(graph[module] & group):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                frontier.append(target)
    raise AssertionError(f"no loop through {start}")


def import_graph(paths: Iterable[Path]) -> dict[str, set[str]]:
    return {module_name(p): {target for _, target in imported_modules(ast.parse(p.read_text()))} for p in paths}


def test_no_modules_import_each_other_in_a_circle():
    found = circles(import_graph(SOURCES))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(loop) for loop in found)


def loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """The modules of each circle found, each circle checked to be one: every step an import, back to its start."""
    found = circles(graph)
    for loop in found:
        assert loop[0] == loop[-1] and all(b in graph[a] for a, b in itertools.pairwise(loop)), loop
    return [set(loop) for loop in found]


def test_the_circle_finder_finds_a_lazy_circle_and_only_circles():
    """A circle closed by an import inside a function, or one for type hints only, is found; a diamond is not a
    circle."""
    lazy = ast.parse("def fit():\n    from fmnist.train.runner import fit_one\n")
    hinted = ast.parse("if TYPE_CHECKING:\n    from fmnist.train.runner import Data\n")
    graph = {"fmnist.train.runner": {"fmnist.train.entries", "fmnist.core.meta"},
             "fmnist.train.entries": {t for _, t in imported_modules(lazy)},
             "fmnist.train.types": {t for _, t in imported_modules(hinted)} | {"fmnist.core.meta"},
             "fmnist.core.meta": set(), "fmnist.cli.app": {"fmnist.train.runner", "fmnist.core.meta"}}
    assert loops(graph) == [{"fmnist.train.runner", "fmnist.train.entries"}]
    graph["fmnist.train.runner"] ^= {"fmnist.train.entries", "fmnist.train.types"}
    assert loops(graph) == [{"fmnist.train.runner", "fmnist.train.types"}]
    graph["fmnist.train.runner"].remove("fmnist.train.types")
    assert circles(graph) == []
