"""The format registry (fmnist.core.formats): every format it lists is told from a real file of it, by its bytes as
well as its suffix, opened through its runner, and its metadata written and read back; a toy format registered in a
test runs through the harness, the metadata reader and bench's skip unchanged; and no module of fmnist/ but the
registry tells model formats apart by suffix (an ast walk, as tests/test_layers.py walks imports)."""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from crafted import meta_text, model
from test_layers import LAYERS, PACKAGE, SOURCES, layer_of
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core import formats
from fmnist.core.errors import ModelError
from fmnist.core.formats import FORMATS, Format, by_suffix, detect, part, recognise
from fmnist.core.meta import ModelMeta, read_meta

SIDE, WIDTH = 4, 3  # the samples' input (N, 4, 4, 1) and output (N, 3)
MAX_SUFFIX_FILES = 2  # the goal: at most two files compare suffixes


@pytest.fixture(scope="module")
def tiny_keras():
    """A Keras model of the samples' shape (TensorFlow: the slow samples only)."""
    from fmnist.core.tf import keras

    net = keras.Sequential([keras.Input((SIDE, SIDE, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(WIDTH, activation="softmax")])
    net(np.zeros((1, SIDE, SIDE, 1), np.float32))  # built, and TensorFlow started
    return net


def _onnx(folder: Path, _request: pytest.FixtureRequest) -> Path:
    return model(folder / "sample.onnx", None, side=SIDE, width=WIDTH)  # written by the onnx library


def _keras(folder: Path, request: pytest.FixtureRequest) -> Path:
    path = folder / "sample.keras"
    request.getfixturevalue("tiny_keras").save(path)
    return path


def _tflite(folder: Path, request: pytest.FixtureRequest) -> Path:
    from fmnist.export.to_tflite import keras_to_tflite

    path = folder / "sample.tflite"
    path.write_bytes(keras_to_tflite(request.getfixturevalue("tiny_keras"), "fp32"))
    return path


SAMPLES: dict[str, Callable[[Path, pytest.FixtureRequest], Path]] = {"onnx": _onnx, "keras": _keras, "tflite": _tflite}
NEEDS_TF = {"keras", "tflite"}  # their samples are made by TensorFlow: seconds, once per module


def test_every_registered_format_has_a_sample_here():
    assert set(SAMPLES) == set(FORMATS), "give the new format a real small sample in SAMPLES"


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in NEEDS_TF else []) for n in FORMATS])
def test_a_real_file_is_told_by_its_bytes_and_by_its_suffix_and_runs(name, tmp_path, request):
    fmt = FORMATS[name]
    path = SAMPLES[name](tmp_path, request)
    assert detect(path) is fmt and by_suffix(path) is fmt
    anonymous = shutil.copy(path, tmp_path / "model.bin")  # no suffix to go by: the bytes alone
    assert detect(anonymous) is fmt
    for other in FORMATS.values():  # another format's suffix: the bytes win
        assert detect(shutil.copy(path, tmp_path / f"misnamed{other.suffix}")) is fmt
    x = np.random.default_rng(0).random((5, SIDE, SIDE, 1), dtype=np.float32)
    for predict in (part(fmt.runner)(path, None), _harness(path)):
        probs = predict(x)
        assert probs.shape == (5, WIDTH) and np.allclose(probs.sum(1), 1, atol=1e-4)


def _harness(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from fmnist.evaluation.predictors import open_model

    return open_model(path, threads=None)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in NEEDS_TF else []) for n in FORMATS])
def test_metadata_written_by_a_format_is_read_back_or_refused_with_one_line(name, tmp_path, request):
    fmt = FORMATS[name]
    path = SAMPLES[name](tmp_path, request)
    if fmt.writer is None:
        assert fmt.reader is None and not fmt.exported
        with pytest.raises(ModelError, match=f"is a {name} model, which carries no fmnist metadata"):
            read_meta(path)
        return
    assert read_meta(path) is None  # the sample carries none yet
    meta = ModelMeta.from_json(meta_text(labels=["a", "b", "c"]), path)
    embedded = tmp_path / f"embedded{fmt.suffix}"
    embedded.write_bytes(part(fmt.writer)(path, meta))
    assert detect(embedded) is fmt
    got = read_meta(embedded)
    assert got is not None and got.labels == ["a", "b", "c"] and got.preprocess == meta.preprocess


@pytest.mark.parametrize(("content", "name", "message"), [
    (None, "missing.onnx", "does not exist"),
    (b"", "empty.txt", "expected a .keras, .onnx or .tflite file"),
    (b"\x08\x07 an ONNX-like head", "photo.jpg", None),  # the bytes say ONNX: its runner then judges the rest
])
def test_an_unknown_or_missing_file_is_one_error_that_names_the_formats(tmp_path, content, name, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    if message is None:
        assert detect(path) is FORMATS["onnx"]
        return
    assert recognise(path) is by_suffix(path)  # a missing file: its suffix's, for a message that names the format
    with pytest.raises(ModelError, match=message):
        detect(path)


def test_a_pipe_named_like_a_model_is_never_read_to_detect_it(tmp_path):
    """Detection reads the first bytes of regular files only: a FIFO would block; its suffix decides, and the
    reader refuses it."""
    import os

    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    assert detect(fifo) is FORMATS["onnx"]
    with pytest.raises(ModelError, match="not a regular file"):
        read_meta(fifo)


# --- the registry drives: a toy format flows through the harness, the reader and bench -------------------------

def toy_runner(path: Path, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """A toy format: a JSON file holding one weight per output; the probabilities are its softmax."""
    weights = np.asarray(json.loads(path.read_text()[4:])["w"], np.float32)
    return lambda x: np.repeat((np.exp(weights) / np.exp(weights).sum())[None], len(x), axis=0)


def toy_props(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()[4:]).get("props", {})


TOY = Format("toy", ".toy", lambda head: head[:4] == b"TOY1", "json", "(the standard library)", "json",
             runner="test_formats:toy_runner", reader="test_formats:toy_props")


@pytest.fixture()
def toy_file(tmp_path, monkeypatch):
    monkeypatch.setitem(FORMATS, "toy", TOY)
    path = tmp_path / "model.toy"
    path.write_text("TOY1" + json.dumps({"w": [0.0, 1.0, 2.0], "props": {"fmnist": meta_text(labels=["a", "b", "c"])}}))
    return path


def test_a_toy_format_registered_in_one_entry_runs_through_the_harness_and_the_reader(toy_file):
    from fmnist.deploy.bench.run import _meta, _precision
    from fmnist.evaluation.predictors import open_model, runner

    assert detect(toy_file) is TOY and formats.listing().endswith(", .tflite or .toy")
    probs = open_model(toy_file)(np.zeros((130, 28, 28, 1), np.float32))  # in calls of a bounded size, as any
    assert probs.shape == (130, 3) and probs.dtype == np.float32 and probs[0].argmax() == 2
    assert runner(toy_file)(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 3)
    meta = read_meta(toy_file)
    assert meta is not None and meta.labels == ["a", "b", "c"]
    assert _precision(toy_file, _meta(toy_file, TOY)) == "fp32"


def test_the_runtime_refuses_a_registered_format_it_does_not_run(toy_file):
    got = CliRunner().invoke(app, ["classify", str(PACKAGE / "assets" / "sample.jpg"), "--model", str(toy_file)])
    assert got.exit_code == 4 and got.stderr.startswith("error: ") and "the runtime runs .onnx models" in got.stderr
    assert got.stderr.count("\n") == 1


# --- each part is imported from its own layer or below ----------------------------------------------------------

CEILINGS = {"reader": "core", "runner": "evaluation", "opener": "evaluation", "writer": "export"}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_part_lives_at_or_below_the_layer_that_imports_it(name):
    """read_meta (core) imports readers, the harness (evaluation) runners and openers, export writers: a part above
    its caller's layer would be an import climb made at run time."""
    fmt = FORMATS[name]
    for kind, ceiling in CEILINGS.items():
        ref = getattr(fmt, kind)
        if ref is None:
            continue
        module, _, function = ref.partition(":")
        assert LAYERS.index(layer_of(module)) <= LAYERS.index(ceiling), f"{name}'s {kind} {ref} is above {ceiling}"
        path = PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text())
        assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, f"{ref} is not defined"


# --- no other module compares suffixes -----------------------------------------------------------------------

SUFFIXES = tuple(f.suffix for f in FORMATS.values())


def _is_model_suffix(node: ast.AST, whole: bool) -> bool:
    """A string constant that is a model suffix (".onnx", "*.onnx"), or with `whole` False ends with one."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_model_suffix(item, whole) for item in node.elts)
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    text = node.value.lower().lstrip("*")
    return text in SUFFIXES if whole else text.endswith(SUFFIXES)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _names_a_path(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Part of an f-string ("search-{i}.onnx") or a folder joined on (home / ".keras"): a name, not a test."""
    parent = parents.get(node)
    return isinstance(parent, ast.JoinedStr) or (isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div))


def suffix_tests(tree: ast.AST) -> list[int]:
    """Lines that tell a model format by its suffix: a model suffix as a value of its own (compared, a dict key,
    a glob, a constant), a name tested with endswith(… a model suffix), or a format named from a suffix
    (path.suffix[1:])."""
    parents = _parents(tree)
    return sorted({node.lineno for node in ast.walk(tree)  # type: ignore[attr-defined]
                   if (_is_model_suffix(node, whole=True) and not _names_a_path(node, parents))
                   or _endswith_a_suffix(node) or _format_from_suffix(node)})


def _endswith_a_suffix(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "endswith"
            and any(_is_model_suffix(arg, whole=False) for arg in node.args))


def _format_from_suffix(node: ast.AST) -> bool:
    return (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "suffix"
            and isinstance(node.slice, ast.Slice))


def test_at_most_two_files_tell_model_formats_by_suffix():
    found = {str(p.relative_to(PACKAGE.parent)): lines for p in SOURCES
             if (lines := suffix_tests(ast.parse(p.read_text())))}
    assert "fmnist/core/formats.py" in found  # the registry itself; the checker sees it
    assert len(found) <= MAX_SUFFIX_FILES, f"ask fmnist.core.formats instead: {found}"


@pytest.mark.parametrize(("code", "caught"), [
    ('path.suffix == ".onnx"', True),
    ('path.suffix in (".onnx", ".keras")', True),
    ('name.endswith("model.int8.TFLITE")', True),
    ('{".keras": "tensorflow"}.get(path.suffix)', True),
    ('folder.glob("*.tflite")', True),
    ('row = {"format": path.suffix[1:]}', True),
    ('ONNX_SUFFIX = ".onnx"', True),  # to compare with later
    ('path = folder / "model.onnx"', False),  # a file's name is not a test of its format
    ('home = Path.home() / ".keras"', False),  # Keras' folder
    ('tmp = work / f"search-{i}.onnx"', False),
    ('photo.suffix.lower() in (".jpg", ".png")', False),  # images are not model formats
    ('raise ModelError("give a .keras model")', False),  # words in a message
])
def test_the_suffix_checker_catches_what_it_should(code, caught):
    assert bool(suffix_tests(ast.parse(code))) is caught
