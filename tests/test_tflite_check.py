""".tflite files made to hurt, as a user might be handed them, each carrying fmnist's metadata so that fmnist opens
it: LiteRT runs none before fmnist.evaluation.tflite_check has looked at it. A 5 KB file whose Tile op made each
image 1,120x1,120 took 5 GB in evaluate; one of another input shape or output count was a traceback or a silent
10 % accuracy."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.meta import CLASS_NAMES, ModelMeta
from tests.crafted import meta_text

pytestmark = [pytest.mark.xdist_group("tensorflow"), pytest.mark.slow]  # TensorFlow's converter makes them
runner = CliRunner()
WIDE = 512  # channels of the wide file's 1x1 convolution: 1.6 MB of float32 an image, 1.6 GB in 1,000 at once


def _tflite(path: Path, body: object, side: int = 28) -> Path:
    """A .tflite of `body` (a function of a (batch, side, side, 1) float batch) with fmnist's metadata."""
    from fmnist.core.tf import tf
    from fmnist.export.embed import embed_tflite

    function = tf.function(body, input_signature=[tf.TensorSpec([None, side, side, 1], tf.float32, name="image")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    raw = path.with_suffix(".raw")
    raw.write_bytes(converter.convert())
    path.write_bytes(embed_tflite(raw, ModelMeta.from_json(meta_text(), path)))
    raw.unlink()
    return path


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from fmnist.core.tf import tf

    def probs(features: object, width: int = len(CLASS_NAMES)) -> object:  # (batch, k) -> width probabilities
        weights = tf.reshape(tf.linspace(-1.0, 1.0, features.shape[-1] * width), (features.shape[-1], width))
        return tf.nn.softmax(tf.matmul(features, weights))

    def wide(x: object) -> object:  # a 1x1 convolution to WIDE channels
        return tf.nn.conv2d(x, tf.reshape(tf.linspace(-1.0, 1.0, WIDE), (1, 1, 1, WIDE)), 1, "SAME")
    folder = tmp_path_factory.mktemp("crafted-tflite")
    return {
        "tile": _tflite(folder / "tile.tflite", lambda x: probs(tf.reduce_mean(tf.tile(x, [1, 40, 40, 1]), [1, 2]))),
        "wide": _tflite(folder / "wide.tflite", lambda x: probs(tf.reduce_mean(wide(x), [1, 2]))),
        "square": _tflite(folder / "square.tflite",  # every image times every other: (B, 1, 784) x (1, B, 784)
                          lambda x: probs(tf.reduce_mean(tf.reshape(x, [-1, 1, 784]) * tf.reshape(x, [1, -1, 784]),
                                                         [1, 2])[:, None])),
        "shape": _tflite(folder / "shape.tflite", lambda x: probs(tf.reduce_mean(x, [1, 2])), side=56),
        "outputs": _tflite(folder / "outputs.tflite", lambda x: probs(tf.reduce_mean(x, [1, 2]), 7)),
    }


def _refused(args: list[str], said: str) -> None:
    got = runner.invoke(app, args)
    assert got.exit_code == 4 and got.stderr.startswith("error: ") and said in got.stderr, got.output
    assert got.stderr.count("\n") == 1 and "Traceback" not in got.output


def test_an_operator_fmnist_never_writes_is_refused_before_it_runs(crafted):
    said = "is refused before it runs: operator TILE is not one that fmnist's exporters write"
    _refused(["evaluate", "--model", str(crafted["tile"])], said)
    _refused(["bench", "--model", str(crafted["tile"]), "--iterations", "10", "--rounds", "1"], said)


def test_an_input_or_output_the_metadata_disagrees_with_is_one_error_line(crafted):
    _refused(["evaluate", "--model", str(crafted["shape"])], "takes images of (56, 56, 1), but its metadata makes "
                                                              "them (28, 28, 1)")
    _refused(["evaluate", "--model", str(crafted["outputs"])], "the model gives (7,) for an image, but has 10 "
                                                                "labels: the output count and the labels disagree")


def test_a_shape_known_only_when_it_runs_is_refused_before_it_runs(crafted):
    """square: every image times every other, (B, 1, 784) x (1, B, 784), a shape LiteRT learns only when it runs
    (3.2 GB in evaluate, 6 GB at bench --batch-size 1400; a variant whose size was (B - 2049) squared slipped past a
    check that measured allocations)."""
    said = "has a shape known only when the model runs, beyond the batch"
    _refused(["evaluate", "--model", str(crafted["square"])], said)
    _refused(["bench", "--model", str(crafted["square"]), "--iterations", "10", "--rounds", "1"], said)


@pytest.mark.parametrize(("name", "most"), [("wide", (100, 250))])
def test_a_model_large_in_a_call_runs_in_calls_its_memory_allows(crafted, name, most):
    """wide: each image's 1.6 MB of convolution output, 1.6 GB in evaluate's 1,000 images a call."""
    from fmnist.evaluation.tflite_check import max_rows

    fits = max_rows(crafted[name])
    assert most[0] <= fits <= most[1]  # 320 MB at once
    with tempfile.NamedTemporaryFile() as peak:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name, sys.executable, "-m", "fmnist",
                               "evaluate", "--model", str(crafted[name]), "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert int(Path(peak.name).read_text().split()[-1]) < 1_000_000  # KB: under 1 GB
    got = runner.invoke(app, ["bench", "--model", str(crafted[name]), "--batch-size", "1", "--batch-size", "4096"])
    assert got.exit_code == 2 and f"in one call it may take {fits} within" in got.stderr
