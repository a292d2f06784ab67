"""The model check (fmnist.core.model_check): a model file is code onnxruntime runs, so it must look like what
fmnist's exporters write before a session is made from it. Attack files are refused with one line (exit 4), never a
hang, a traceback or gigabytes; random graphs of the allowed operators pass, and the shapes the check follows are the
ones onnxruntime makes; anything else is refused."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import (
    attribute_of_another_type,
    batch_squared,
    broadcast_bomb,
    cast_to_text,
    doubling_shape,
    endless_loop,
    endless_pooling,
    fails_when_run,
    folded_constants,
    good,
    many_alive,
    metadata_not_utf8,
    tile_bomb,
)
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.errors import ModelError
from fmnist.core.model_check import MAX_CALL_BYTES, Refused, check_model
from fmnist.core.onnx_shapes import Dim
from fmnist.core.session import MAX_MODEL_BYTES, make_session, usable_threads
from fmnist.runtime.shipped import SHIPPED

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "pants.jpg"
QUICK = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fmnist(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in its own process: a hang is a timeout, and onnxruntime's native log lines (written to
    fd 2 by C++) are seen."""
    return subprocess.run([sys.executable, "-m", "fmnist", *args], capture_output=True, text=True, timeout=timeout,
                          env={k: v for k, v in os.environ.items() if k != "FMNIST_VERBOSE"})


def in_process(*args: str) -> subprocess.CompletedProcess:
    """The command run in this process (typer's CliRunner), for a file refused or read before anything runs it: the
    same exit code and output as `fmnist`, without a process start."""
    got = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(list(args), got.exit_code, got.stdout, got.stderr)


def one_error_line(got: subprocess.CompletedProcess, code: int, *parts: str, progress: bool = False) -> None:
    """Exit `code`, and stderr is one `error:` line holding each of `parts` (after bench's progress lines)."""
    assert got.returncode == code, (got.returncode, got.stderr)
    last = got.stderr.splitlines()[-1] if progress else got.stderr.removesuffix("\n")
    assert last.startswith("error: ") and "\n" not in last and got.stderr.count("error:") == 1, got.stderr
    assert "Traceback" not in got.stderr and all(p in last for p in parts), got.stderr


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_models_pass_and_their_output_is_one_row_per_image(name):
    shapes = check_model(SHIPPED[name].path.read_bytes(), name).shapes
    assert shapes["probs"].shape == (Dim(1, batch=True), Dim(10))


@pytest.mark.parametrize(("attack", "message"), [
    (endless_loop, "operator Loop"),
    (tile_bomb, "operator Tile"),
    (broadcast_bomb, f"more than the {MAX_CALL_BYTES:,} bytes allowed"),
    (batch_squared, "square of the batch"),  # (N, 1) + (1, N)
    (endless_pooling, "comparisons an image, over the"),  # every tensor within bounds, the work not
    (many_alive, "bytes at once"),  # each copy within bounds, all of them together not
    (attribute_of_another_type, "of a kind its exporters never write"),
    (folded_constants, "what is made from them alone included"),  # kept for the session by constant folding
    (cast_to_text, "not a number type"),
])
def test_an_attack_model_is_refused_in_one_line_before_it_runs(tmp_path, attack, message):
    """Refused when its session is made, the one way every command opens a model to run it (classify, live, bench,
    evaluate): a refused file is never run, so this runs in-process; the command's exit code and line are checked in
    a real process by test_classify_refuses_an_attack_in_one_line_and_never_hangs."""
    path = attack(tmp_path / "attack.onnx")
    with pytest.raises(ModelError) as refused:
        make_session(path)
    line = str(refused.value)
    assert "\n" not in line and all(part in line for part in (str(path), "refused before it runs", message)), line


@pytest.mark.slow
def test_classify_refuses_an_attack_in_one_line_and_never_hangs(tmp_path):
    """The real command in its own process: exit 4, one line, no traceback; a hang would be a timeout."""
    path = endless_loop(tmp_path / "attack.onnx")
    one_error_line(fmnist("classify", str(PHOTO), "--model", str(path)), 4, str(path), "refused before it runs",
                   "operator Loop")


def test_a_shape_whose_values_double_is_followed_without_keeping_them(tmp_path):
    """64 int64 values concatenated with themselves: the check keeps a shape's values only while they are a few, so it
    neither stalls nor fills memory (18 doublings, 16 M values, took it 8 GB and 37 s). onnxruntime would fold them
    all at load and keep them, so at 18 doublings the model is refused for that."""
    checked = check_model(doubling_shape(tmp_path / "double.onnx", steps=8).read_bytes(), "double.onnx")
    assert checked.shapes["v8"].shape == (Dim(64 * 2**8),) and checked.shapes["v8"].values is None
    assert checked.shapes["v0"].values is not None
    with pytest.raises(Refused, match="what is made from them alone included"):
        check_model(doubling_shape(tmp_path / "double18.onnx", steps=18).read_bytes(), "double18.onnx")


def test_metadata_that_is_not_utf8_is_one_error_line(tmp_path):
    path = metadata_not_utf8(tmp_path / "latin.onnx")
    one_error_line(in_process("classify", str(PHOTO), "--model", str(path)), 4, "metadata is not UTF-8")
    one_error_line(in_process("info", "--model", str(path)), 4, "metadata is not UTF-8")


def test_bench_holds_its_batch_to_what_the_model_check_allows():
    """The photo model may take 66 images in a call within the check's bound: bench's documented 64 runs, 80 and
    10**11 are one line (exit 2) before anything is timed (20,000 took 1.1 GB)."""
    from fmnist.core.session import read_model

    assert check_model(read_model(SHIPPED["photo"].path), "photo").max_rows() >= 64
    for batch in ("80", str(10**11)):
        one_error_line(in_process("bench", "--model", "photo", "--threads", "1", "--batch-size", "1", "--batch-size",
                                  batch), 2, f"--batch-size {batch}", "ask for a smaller batch", progress=True)


@pytest.mark.slow
def test_a_loop_without_end_does_not_hang_bench_or_info(tmp_path):
    path = endless_loop(tmp_path / "loop.onnx")
    one_error_line(fmnist("bench", "--model", str(path), "--threads", "1", "--batch-size", "1"), 4, "operator Loop",
                   progress=True)
    one_error_line(fmnist("info", "--model", str(path)), 4, "operator Loop")


@pytest.mark.slow
def test_a_model_that_fails_when_run_is_one_line_and_onnxruntime_s_log_only_with_verbose(tmp_path):
    path = fails_when_run(tmp_path / "fails.onnx")
    got = fmnist("classify", str(PHOTO), "--model", str(path))
    one_error_line(got, 4, str(path), "failed when run")
    assert "onnxruntime" not in got.stderr.split("(")[0] and "\x1b[" not in got.stderr
    verbose = fmnist("--verbose", "classify", str(PHOTO), "--model", str(path))
    assert verbose.returncode == 4 and "[E:onnxruntime" in verbose.stderr, verbose.stderr


def test_a_graph_as_tf2onnx_writes_it_passes_and_classifies(tmp_path):
    path = good(tmp_path / "good.onnx")
    got = in_process("classify", str(PHOTO), "--model", str(path), "--json")
    assert got.returncode == 0, got.stderr
    assert '"label"' in got.stdout


def test_a_model_file_over_the_size_limit_or_not_a_file_is_refused_before_it_is_read(tmp_path):
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as f:  # sparse: no disk used, and never read
        f.truncate(MAX_MODEL_BYTES + 1)
    with pytest.raises(ModelError, match="over the 200 MB"):
        make_session(huge)
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)  # opening it for reading would block for ever
    with pytest.raises(ModelError, match="not a regular file"):
        make_session(fifo)


def _model_bytes(nodes, inits, inputs=None, opset=17) -> bytes:
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4, 1])]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def _external() -> onnx.TensorProto:
    t = numpy_helper.from_array(np.ones(4, np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="/etc/passwd")
    return t


def _lying() -> onnx.TensorProto:
    t = numpy_helper.from_array(np.ones(4, np.float32), "w")
    t.dims[:] = [1_000_000_000]  # a billion values declared, 16 bytes held
    return t


@pytest.mark.parametrize(("data", "message"), [
    (_model_bytes([helper.make_node("Add", ["x", "w"], ["y"])], [_external()]), "outside the file"),
    (_model_bytes([helper.make_node("Add", ["x", "w"], ["y"])], [_lying()]), "declares 1000000000 values"),
    (_model_bytes([helper.make_node("Relu", ["x"], ["y"])], [],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "H", 4, 1])]), "not fixed"),
    (_model_bytes([helper.make_node("Add", ["x", "x2"], ["y"])], [],
                  [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4, 4, 1]) for n in ("x", "x2")]),
     "2 inputs"),
    (_model_bytes([helper.make_node("Relu", ["z"], ["y"])], []), "before any node makes it"),
    (_model_bytes([helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")], []),
     "operator com.microsoft.FusedConv"),
    (_model_bytes([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])], []),
     "made before"),
    (b"\x0a\xff\xff\xff\xff\x0f", "not a loadable ONNX model"),
], ids=lambda value: value if isinstance(value, str) else "model")  # the file's bytes make an unreadable name
def test_files_that_no_exporter_writes_are_refused(data, message):
    with pytest.raises(ModelError, match=message):
        check_model(data, "crafted.onnx")


# Random graphs of the operators fmnist's exporters write, as they write them: NHWC in, a transpose, layers in NCHW,
# a global pool, a flatten, a product and a softmax. Each layer's parameters are drawn freely, so some graphs cannot
# run (a window larger than the image): onnxruntime then refuses them too.
LAYERS = ("conv", "depthwise", "relu", "clip", "maxpool", "avgpool", "bias", "scale", "qdq", "concat", "residual",
          "sigmoid")


@st.composite
def layer_graphs(draw) -> tuple[onnx.ModelProto, int]:
    side, channels = draw(st.integers(2, 12)), 3
    nodes = [helper.make_node("Transpose", ["x"], ["t0"], perm=[0, 3, 1, 2])]
    inits: list[onnx.TensorProto] = []
    current = "t0"

    def add(op: str, inputs: list[str], **attrs) -> None:
        nonlocal current
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        current = out

    def const(values: np.ndarray) -> str:
        name = f"w{len(inits)}"
        inits.append(numpy_helper.from_array(values, name))
        return name

    def weight(shape: tuple[int, ...], dtype=np.float32) -> str:
        return const((np.arange(np.prod(shape)) % 7 - 3).reshape(shape).astype(dtype))

    for kind in draw(st.lists(st.sampled_from(LAYERS), min_size=0, max_size=6)):
        k, stride, pad = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
        window = {"strides": [stride] * 2, "pads": [pad] * 4}
        if kind == "conv":
            out = draw(st.integers(1, 4))
            add("Conv", [current, weight((out, channels, k, k)), weight((out,))], kernel_shape=[k, k], **window)
            channels = out
        elif kind == "depthwise":
            add("Conv", [current, weight((channels, 1, k, k))], group=channels, **window)
        elif kind in ("maxpool", "avgpool"):
            add("MaxPool" if kind == "maxpool" else "AveragePool", [current], kernel_shape=[k, k], **window)
        elif kind == "bias":
            add("Add", [current, weight((channels, 1, 1))])
        elif kind == "scale":
            add("Mul", [current, weight((1, channels, 1, 1))])
        elif kind == "qdq":
            scale, zero = weight(()), weight((), np.int8)
            add("QuantizeLinear", [current, scale, zero])
            add("DequantizeLinear", [current, scale, zero])
        elif kind == "concat":
            add("Concat", [current, current], axis=1)
            channels *= 2
        elif kind == "residual":
            add("Add", [current, current])
        elif kind == "clip":
            add("Clip", [current, weight(()), weight(())])
        else:
            add(kind.capitalize() if kind != "relu" else "Relu", [current])
    add("GlobalAveragePool", [current])
    if draw(st.booleans()):
        add("Flatten", [current], axis=1)
    else:  # tf2onnx's flatten: the batch read off the shape, the rest from a constant
        pooled = current
        add("Shape", [pooled])
        add("Gather", [current, const(np.array([0], np.int64))], axis=0)
        add("Concat", [current, const(np.array([-1], np.int64))], axis=0)
        add("Reshape", [pooled, current])
    add("MatMul", [current, weight((channels, 10))])
    add("Softmax", [current], axis=-1)
    graph = helper.make_graph(nodes, "random", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              ["N", side, side, 3])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), side


def _every_tensor_as_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph, each node's output also an output of the graph, so that onnxruntime shows every shape."""
    inferred = onnx.shape_inference.infer_shapes(model)
    kinds = {v.name: v for v in inferred.graph.value_info}
    extra = [kinds[n.output[0]] for n in model.graph.node if n.output[0] in kinds
             and n.output[0] != model.graph.output[0].name]
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    exposed.graph.output.extend(extra)
    return exposed


def _runs_in_onnxruntime(model: onnx.ModelProto, side: int, channels: int) -> dict[str, tuple[int, ...]] | None:
    """Every tensor's shape for a batch of 2, or None if onnxruntime refuses the graph, fails to run it, or makes an
    empty tensor (a window wider than the image, which it sometimes lets through)."""
    try:
        exposed = _every_tensor_as_output(model)
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((2, side, side, channels), np.float32)
        values = session.run(None, {"x": x})
    except Exception:
        return None
    if any(v.size == 0 for v in values):
        return None
    return {o.name: v.shape for o, v in zip(session.get_outputs(), values, strict=True)}


def _truly_over_the_call_bound(refusal: str, ran: dict[str, tuple[int, ...]]) -> bool:
    """The check refused a tensor over the bytes one call may make at its largest batch: onnxruntime's own shapes
    (at a batch of 2) say a tensor of the graph is indeed over that bound at that batch, float32."""
    found = re.search(r"makes [\d,]+ bytes in one call of (\d+) images, over the ([\d,]+) allowed", refusal)
    if found is None:
        return False
    rows, allowed = int(found[1]), int(found[2].replace(",", ""))
    return max(math.prod(shape[1:]) * 4 * rows for shape in ran.values()) > allowed


@QUICK
@given(layer_graphs())
def test_random_graphs_of_allowed_operators_pass_with_the_shapes_onnxruntime_makes(drawn):
    """What the check passes, onnxruntime runs, making exactly the shapes the check followed; what onnxruntime cannot
    run, the check refuses. The check is stricter in two places: a window wider than its padded input, which
    onnxruntime sometimes lets through, and a tensor over the bytes one call may make at the largest batch, which
    a batch of 2 does not reach (a random draw found a Concat of 225 MB at 65,333 images)."""
    model, side = drawn
    ran = _runs_in_onnxruntime(model, side, 3)
    try:
        shapes = check_model(model.SerializeToString(), "random.onnx").shapes
    except Refused as e:
        assert ran is None or "does not fit" in str(e) or _truly_over_the_call_bound(str(e), ran), str(e)
        return
    assert ran is not None, "the check passed a graph onnxruntime cannot run"
    for name, shape in ran.items():
        assert tuple(d.size * (2 if d.batch else 1) for d in shapes[name].shape) == shape, name


REFUSED_OPS = ("Tile", "Expand", "Loop", "Scan", "If", "Resize", "Upsample", "ConstantOfShape", "Range", "Pad",
               "NonZero", "TopK", "Where", "Einsum", "LSTM", "ScatterND", "Compress", "RandomNormal")


@QUICK
@given(layer_graphs(), st.sampled_from(REFUSED_OPS), st.data())
def test_any_other_operator_anywhere_is_refused(drawn, op, data):
    model, _ = drawn
    try:
        check_model(model.SerializeToString(), "random.onnx")
    except Refused:
        assume(False)  # a graph the check refuses already: no test of the operator
    nodes = list(model.graph.node)
    at = data.draw(st.integers(1, len(nodes) - 1))
    source = nodes[at - 1].output[0]
    nodes.insert(at, helper.make_node(op, [source], ["odd"]))
    nodes[at + 1].input[0] = "odd"
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    with pytest.raises(Refused, match=f"operator {op}"):
        check_model(model.SerializeToString(), "random.onnx")


def test_thread_counts_are_capped_at_the_cores():
    assert usable_threads(400) == len(os.sched_getaffinity(0))
    assert usable_threads(0) == 0 and usable_threads(1) == 1


@pytest.mark.slow
def test_every_file_the_documented_export_writes_passes(exported_cnn):
    """`fmnist export RUN --int8 --fp16` (the notebook CNN: tf2onnx's flatten of Shape, Gather, Concat) and its int8."""
    onnx_files = sorted(exported_cnn.glob("*.onnx"))
    assert {p.name for p in onnx_files} >= {"model.onnx", "model.int8.onnx"}
    for path in onnx_files:
        assert check_model(path.read_bytes(), path.name).shapes["probs"].shape == (Dim(1, batch=True), Dim(10))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["edge", "mlp2", "cnn"])
def test_each_registry_model_and_its_int8_settings_pass(tmp_path, name):
    """Each registry model through the exporter's own steps (tf2onnx, then onnxruntime's quantization with the first
    convolutions kept float, or uint8 activations per tensor), untrained: the graph is what matters."""
    from fmnist.export.quantize import QuantSettings, quantize_onnx
    from fmnist.export.to_onnx import keras_to_onnx
    from fmnist.train.models import REGISTRY

    model = REGISTRY[name].build()
    fp32 = tmp_path / "model.onnx"
    fp32.write_bytes(keras_to_onnx(model).SerializeToString())
    calib = np.random.default_rng(0).random((32, *model.input_shape[1:]), np.float32)
    files = [fp32]
    for i, settings_ in enumerate([QuantSettings(float_convs=1 if name != "mlp2" else 0),
                                   QuantSettings(method="entropy", activations="uint8", per_channel=False)]):
        files.append(tmp_path / f"model.{i}.int8.onnx")
        quantize_onnx(fp32, files[-1], calib, settings_)
    for path in files:
        assert check_model(path.read_bytes(), path.name).shapes["probs"].shape == (Dim(1, batch=True), Dim(10))


@pytest.mark.slow
def test_a_model_that_passed_is_remembered_by_its_bytes_and_other_bytes_are_checked_again(tmp_path):
    """The check runs once per model's bytes: the next start finds the pass in the cache and never imports protobuf;
    a file whose bytes differ is checked anew, and an attack is refused whatever the cache holds for other files."""
    env = {**{k: v for k, v in os.environ.items() if k != "FMNIST_VERBOSE"}, "FMNIST_CACHE": str(tmp_path / "cache")}
    probe = ("import sys; from fmnist.runtime.classifier import Classifier; Classifier(sys.argv[1]); "
             "print('google.protobuf' in sys.modules)")

    def checked_now(model: str) -> bool:
        got = subprocess.run([sys.executable, "-c", probe, model], capture_output=True, text=True, env=env, timeout=60)
        assert got.returncode == 0, got.stderr
        return got.stdout.strip() == "True"

    assert checked_now("edge") and not checked_now("edge")
    assert len(list((tmp_path / "cache" / "checked-models").iterdir())) == 1
    other = good(tmp_path / "good.onnx")
    assert checked_now(str(other)) and not checked_now(str(other))
    markers = tmp_path / "cache" / "checked-models"
    for forged in markers.iterdir():  # a symlink or a pipe under a pass's name is not a pass, and never waited on
        forged.unlink()
        os.mkfifo(forged)
    assert checked_now("edge")
    attack = tile_bomb(tmp_path / "tile.onnx")
    got = subprocess.run([sys.executable, "-m", "fmnist", "classify", str(PHOTO), "--model", str(attack)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert got.returncode == 4 and "operator Tile" in got.stderr
