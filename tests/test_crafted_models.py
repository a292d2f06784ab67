"""No crafted model file gets a traceback: hostile metadata and outputs, through the commands a user runs, end in
one `error:` line and exit 4 (or a correct result); and no JSON output carries NaN or infinity."""

from __future__ import annotations

import json
import math
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from crafted import RAW, crop_record, meta_text, model
from served import served
from typer.testing import CliRunner

from fmnist.cli import app
from fmnist.core.meta import MAX_META_CHARS, MAX_META_DEPTH
from fmnist.runtime.video.preview import Preview

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "pants.jpg"
runner = CliRunner()


def refused(command: list[str], *message: str) -> None:
    """The command exits 4 with one `error:` line holding each part of `message`, and no traceback."""
    got = runner.invoke(app, command)
    assert got.exit_code == 4, got.output
    assert got.stderr.startswith("error: ") and got.stderr.count("\n") == 1, got.stderr
    assert "Traceback" not in got.output and all(part in got.stderr for part in message), got.stderr


def strict_json(text: str) -> object:
    """json.loads that refuses NaN and infinity, as browsers and most parsers do."""
    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} in JSON output: {text[:200]}")

    return json.loads(text, parse_constant=no_constant)


@pytest.mark.parametrize(("text", "message"), [
    ('{"precision": "fp32", "source_sha256": "", "training": ' + "[" * 100_000 + "]" * 100_000 + "}",
     f"nested over {MAX_META_DEPTH} levels"),
    (meta_text(training={"recipe": json.loads("[" * 40 + "]" * 40)}), f"nested over {MAX_META_DEPTH} levels"),
    (meta_text(training={"notes": "x" * MAX_META_CHARS}), f"over the limit of {MAX_META_CHARS:,}"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"precision": "fp32"', "unreadable fmnist metadata"),
], ids=["100000 deep", "40 deep", "over 1 MB", "a list", "cut short"])
def test_metadata_too_deep_too_large_or_not_an_object_is_one_error_line(tmp_path, text, message):
    path = model(tmp_path / "m.onnx", text)
    for command in (["info", "--model", str(path)], ["classify", str(PHOTO), "--model", str(path)]):
        refused(command, str(path), message)


@pytest.mark.parametrize(("fields", "raw", "message"), [
    ({"size": RAW}, '"32px"', "size is '32px'"),
    ({"size": RAW}, "null", "size is None"),
    ({"size": RAW}, "1e400", "size is inf"),
    ({"size": 4096}, None, "size is 4096, not a whole number of pixels from 8 to 1024"),
    ({"size": 32.0}, None, "size is 32.0"),
    ({"std": RAW}, '"128"', "std is '128'"),
    ({"std": 0}, None, "std is 0"),
    ({"mean": RAW}, "NaN", "mean is nan"),
    ({"mean": None}, None, "mean is missing"),
    ({"std": None}, None, "std is missing"),
    ({"colour": "BGR"}, None, "colour is 'BGR'"),
])
def test_a_crop_record_with_a_bad_or_missing_field_is_refused(tmp_path, fields, raw, message):
    good = model(tmp_path / "good.onnx", meta_text(preprocess=crop_record()), side=32, channels=3)
    assert runner.invoke(app, ["classify", str(PHOTO), "--model", str(good)]).exit_code == 0
    bad = model(tmp_path / "bad.onnx", meta_text(raw, preprocess=crop_record(**fields)), side=32, channels=3)
    refused(["classify", str(PHOTO), "--model", str(bad)], "its crop preprocessing record's " + message,
            "train and export it again")


@pytest.mark.parametrize(("output", "width", "found"), [
    ("scalar", 10, "outputs [('y', [])]"),
    ("probs", 12, "outputs [('y', ['N', 12])]"),
])
def test_an_output_that_is_not_one_probability_per_label_is_refused(tmp_path, output, width, found):
    path = model(tmp_path / "m.onnx", meta_text(), width=width, output=output)
    refused(["classify", str(PHOTO), "--model", str(path)], found, "has 10 labels", "disagree")


def test_an_output_wider_at_run_time_than_it_declares_is_refused_before_it_runs(tmp_path):
    path = model(tmp_path / "m.onnx", meta_text(), width=10, output="wider")  # declares (N, 10), makes (N, 12)
    refused(["classify", str(PHOTO), "--model", str(path)], "refused before it runs",
            "declares the shape ['N', 10], but the graph makes [batch, 12]")


@pytest.mark.parametrize(("fields", "raw", "message"), [
    ({"decision": [0.3]}, None, "decision must be a JSON object, got [0.3]"),
    ({"decision": {"threshold": RAW}}, "NaN", "the decision threshold nan is not a number in [0, 1]"),
    ({"decision": {"threshold": RAW}}, "-Infinity", "the decision threshold -inf is not"),
    ({"decision": {"threshold": 1.5}}, None, "the decision threshold 1.5 is not"),
    ({"decision": {"threshold": "0.3"}}, None, "the decision threshold '0.3' is not"),
    ({"labels": "T-shirt"}, None, "labels must be a list of names"),
    ({"precision": 8}, None, "precision must be text, got 8"),
    ({"input": None}, None, "input must be a JSON object, got None"),
])
def test_a_field_of_the_wrong_type_or_a_bad_threshold_is_refused(tmp_path, fields, raw, message):
    path = model(tmp_path / "m.onnx", meta_text(raw, **fields))
    for command in (["info", "--model", str(path)], ["classify", str(PHOTO), "--model", str(path), "--json"],
                    ["live", "--source", str(tmp_path / "none.mp4"), "--model", str(path), "--no-display", "--json"]):
        refused(command, f"{path} metadata: {message}")


def test_info_prints_what_partial_metadata_holds(tmp_path):
    bare = model(tmp_path / "bare.onnx", '{"precision": "int8", "source_sha256": ""}')
    got = runner.invoke(app, ["info", "--model", str(bare)])
    assert got.exit_code == 0 and "Traceback" not in got.output, got.output
    assert "(int8), fmnist ?, created ?" in got.stdout and "input: ? ? ? ?" in got.stdout
    assert "Keras test accuracy ?" in got.stdout and "not sure below 0.50 (the default" in got.stdout
    partial = model(tmp_path / "partial.onnx", meta_text(
        "NaN", labels=["[red]mug[/red]", "cup"], input={}, training={"test_accuracy": "high", "heldout_accuracy": RAW},
        parity={"data": "photos", "passed": [True]}, decision={"threshold": 0.4}), width=2)
    got = runner.invoke(app, ["info", "--model", str(partial)])
    assert got.exit_code == 0 and "Traceback" not in got.output, got.output
    assert "0 [red]mug[/red], 1 cup" in got.stdout  # the metadata's text, not rich markup
    assert "input: ? ? ? ?" in got.stdout and "Keras top-1 ? on held-out photos" in got.stdout
    assert "parity on ? photos: accuracy ? (? pp), agreement ?, max |Δp| ?, gate ?" in got.stdout
    assert "not sure below 0.40 (?, on ?): answers ? of held-out photos, ? of them right" in got.stdout  # own labels
    refused(["info", "--model", str(model(tmp_path / "m.onnx", '{"labels": ["a", "b"]}'))],
            "lacks precision, source_sha256")


def test_info_json_writes_nan_and_infinity_as_null(tmp_path):
    path = model(tmp_path / "m.onnx", meta_text("NaN", parity={"max_abs_diff": RAW, "accuracy": 0.9}))
    got = runner.invoke(app, ["info", "--model", str(path), "--json"])
    assert got.exit_code == 0, got.output
    assert strict_json(got.stdout)["parity"] == {"max_abs_diff": None, "accuracy": 0.9}


def test_nan_scores_are_null_in_classify_and_live_json(tmp_path):
    for path in (model(tmp_path / "nan.onnx", meta_text(), output="nan"),
                 model(tmp_path / "crop.nan.onnx", meta_text(preprocess=crop_record()), 32, 3, output="nan")):
        got = runner.invoke(app, ["classify", str(PHOTO), "--model", str(path), "--json"])
        assert got.exit_code == 0, got.output
        row = strict_json(got.stdout)
        assert row["score"] is None and row["sure"] is False and row["threshold"] == 0.5
        assert [guess["score"] for guess in row["top"]] == [None] * 3
    video = tmp_path / "grey.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    rng = np.random.default_rng(0)
    for _ in range(3):  # noise: not blank, so the crop model's probabilities reach the result
        writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    writer.release()
    got = runner.invoke(app, ["live", "--source", str(video), "--model", str(path), "--no-display", "--json"])
    assert got.exit_code == 0, got.output
    rows = [strict_json(line) for line in got.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3 and all(r["score"] is None and r["label"] == "not sure" for r in rows)


def test_the_preview_status_is_strict_json_whatever_the_scores():
    preview = Preview("nan.onnx")
    with served(preview=preview) as port:
        preview.publish(b"", {"label": "not sure", "score": math.nan, "fps": math.inf,
                              "top": [{"label": "Coat", "score": -math.inf}]})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
            status = strict_json(response.read().decode())
    assert status == {"label": "not sure", "score": None, "fps": None, "top": [{"label": "Coat", "score": None}]}


def test_a_400_digit_number_or_a_control_character_in_metadata_is_one_error_line(tmp_path):
    huge = model(tmp_path / "huge.onnx", meta_text(raw="1" + "0" * 400, decision={"threshold": RAW}))
    escape = model(tmp_path / "esc.onnx", meta_text(labels=["ok", "\x1b[31mred"]), width=2)
    for path in (huge, escape):
        for command in (["info", "--model", str(path)], ["classify", str(PHOTO), "--model", str(path)]):
            got = runner.invoke(app, command)
            assert got.exit_code == 4 and got.stderr.startswith("error: ") and "Traceback" not in got.output


def test_a_crafted_tflite_file_or_control_characters_in_metadata_text_stay_one_clean_line(tmp_path):
    tflite = tmp_path / "g.tflite"
    tflite.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\xff" * 64)  # offsets pointing past the end
    got = runner.invoke(app, ["info", "--model", str(tflite)])
    assert got.exit_code == 4 and got.stderr.startswith("error: ") and "Traceback" not in got.output
    ansi = model(tmp_path / "ansi.onnx", meta_text(export_command="\x1b[2J\x1b[31mPWNED\nfake line" + "x" * 5000))
    got = runner.invoke(app, ["info", "--model", str(ansi)])
    assert got.exit_code == 0 and "\x1b[2J" not in got.stdout and "\x1b[31m" not in got.stdout
    assert "?[2J?[31mPWNED?fake line" in got.stdout.replace("\n", "")
    assert max(map(len, got.stdout.splitlines())) < 600  # a long field is cut, not wrapped for minutes


@pytest.mark.parametrize("arrays", [
    {"heldout_images": np.zeros((3, 28, 28), np.uint8)},  # a key missing
    {"heldout_images": np.zeros((3, 28, 28), np.uint8), "heldout_labels": np.array([0, 1, 99]),
     "calib_images": np.zeros((3, 28, 28), np.uint8)},  # a label past the model's
    {"heldout_images": np.zeros((3, 32, 32), np.uint8), "heldout_labels": np.array([0, 1, 1]),
     "calib_images": np.zeros((3, 32, 32), np.uint8)},  # images of another shape
    {"heldout_images": np.zeros((2, 28, 28), np.float64), "heldout_labels": np.array([0, 1]),
     "calib_images": np.zeros((2, 28, 28), np.uint8)},  # another dtype
    None,  # not a zip at all
], ids=["missing key", "label out of range", "wrong shape", "wrong dtype", "random bytes"])
def test_a_crafted_own_data_file_beside_an_own_label_model_is_one_error_line(tmp_path, arrays):
    path = model(tmp_path / "m.onnx", meta_text(labels=["mug", "cup"]), width=2)
    if arrays is None:
        (tmp_path / "own_data.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    else:
        np.savez(tmp_path / "own_data.npz", **arrays)
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and got.stderr.startswith("error: ") and "Traceback" not in got.output, got.output


def test_a_crafted_calib_data_file_beside_a_colour_model_is_one_error_line(tmp_path):
    path = model(tmp_path / "m.onnx", meta_text(preprocess=crop_record()), side=32, channels=3)
    np.savez(tmp_path / "calib_data.npz", calib_images=np.zeros((4, 28, 28), np.uint8))  # not the model's shape
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "does not hold this model's calibration images" in got.stderr, got.output
    (tmp_path / "calib_data.npz").write_bytes(b"PK\x03\x04" + bytes(256))
    got = runner.invoke(app, ["evaluate", "--model", str(path)])
    assert got.exit_code == 4 and "as a run's calib_data.npz (it is not a file holding a zip archive)" in got.stderr \
        and "Traceback" not in got.output
