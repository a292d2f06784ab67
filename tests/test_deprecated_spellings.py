"""The spellings renamed so that the CLI speaks one dialect still work for one release: each runs as its new
spelling does (exit 0, the same output) and says so in one line on stderr. Given with its new spelling too, it is
refused (exit 2) rather than one of them silently winning. `data fetch --photos` is in test_fetch_photos.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer.main
from crafted import own_run
from typer.testing import CliRunner

from fmnist.cli import app

runner = CliRunner()


def warning(old: str, new: str) -> str:
    return f"warning: {old} is deprecated, use {new} (removed in the next release)\n"


@pytest.fixture
def own_model(tmp_path) -> Path:
    """A two-label model (mug, cup) and its run's held-out photos: evaluate and bench judge it in milliseconds."""
    return own_run(tmp_path / "run", ("mug", "cup"))


@pytest.fixture
def video(tmp_path) -> Path:
    """Six frames of a dark disc on a light table."""
    path = tmp_path / "disc.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (320, 240))
    for _ in range(6):
        frame = np.full((240, 320, 3), 225, np.uint8)
        writer.write(cv2.circle(frame, (160, 120), 50, (40, 40, 40), cv2.FILLED))
    writer.release()
    return path


def same_run(old: list[str], new: list[str], warned: str) -> None:
    """`old` exits 0 with `new`'s output on stdout and the warning as the first line on stderr."""
    before, after = runner.invoke(app, old), runner.invoke(app, new)
    assert before.exit_code == after.exit_code == 0, before.output + after.output
    assert before.stdout == after.stdout
    assert before.stderr.startswith(warning(*warned.split(" => "))) and warned.split(" => ")[0] not in after.stderr


def test_info_model_as_a_positional(own_model):
    same_run(["info", str(own_model)], ["info", "--model", str(own_model)],
             "fmnist info MODEL => fmnist info --model MODEL")


def test_evaluate_model_as_a_positional(own_model):
    same_run(["evaluate", str(own_model), "--json"], ["evaluate", "--model", str(own_model), "--json"],
             "fmnist evaluate MODEL => fmnist evaluate --model MODEL")


@pytest.mark.slow
def test_bench_models_as_positionals_comma_separated_threads_and_batch(own_model):
    old = runner.invoke(app, ["bench", str(own_model), "--threads", "1,2", "--batch", "1,4", "--iterations", "10",
                              "--rounds", "1", "--json"])
    assert old.exit_code == 0, old.output
    assert warning("fmnist bench MODEL...", "fmnist bench --model MODEL (once per model)") in old.stderr
    assert warning("--threads 1,2", "--threads 1 --threads 2") in old.stderr
    assert warning("--batch 1,4", "--batch-size 1 --batch-size 4") in old.stderr
    rows = json.loads(old.stdout)["rows"]
    assert [(Path(r["model"]), r["threads"]) for r in rows] == [(own_model, 1), (own_model, 2)]
    assert all(r["throughput_batch"] == 4 for r in rows)  # the largest batch


@pytest.mark.parametrize("old, new", [("--label", "--collect-label"), ("--labels", "--collect-labels")])
def test_live_collect_labels(old, new, own_model, video, tmp_path):
    """Headless, the first of --labels is the one saved under, as before."""
    got = runner.invoke(app, ["live", "--source", str(video), "--model", str(own_model), "--collect",
                              str(tmp_path / "photos"), old, "mug", "--every", "2"])
    assert got.exit_code == 0, got.output
    assert got.stderr.startswith(warning(old, new))
    assert len(list((tmp_path / "photos" / "mug").glob("*.jpg"))) == 3


def parsed(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    """The parameters a command's parser gives `args` (its callbacks run, nothing else), and its stderr."""
    command = typer.main.get_command(app).commands[args[0]]  # type: ignore[attr-defined]
    params = command.make_context(args[0], list(args[1:])).params
    return params, capsys.readouterr().err


@pytest.mark.parametrize("old, new, warned", [
    (["export", "runs/edge", "--tflite"], ["export", "runs/edge"],
     "warning: --tflite is deprecated, leave it out: TFLite files are written unless --no-tflite"),
    (["export", "runs/edge", "--per-channel"], ["export", "runs/edge"],
     "warning: --per-channel is deprecated, leave it out: int8 weights are per channel unless --no-per-channel"),
])
def test_the_old_export_flags_parse_as_their_default_and_warn(old, new, warned, capsys):
    (before, err), (after, _) = parsed(old, capsys), parsed(new, capsys)
    assert err.startswith(warned) and err.count("\n") == 1
    same = {k: v for k, v in before.items() if not k.startswith("old_")}
    assert same == {k: v for k, v in after.items() if not k.startswith("old_")}


@pytest.mark.parametrize("args", [
    ["info", "edge", "--model", "edge"],
    ["bench", "--batch", "1", "--batch-size", "2"],
    ["live", "--label", "a", "--collect-label", "b", "--collect", "x"],
])
def test_an_option_given_in_both_spellings_is_refused(args):
    got = runner.invoke(app, args)
    assert got.exit_code == 2, got.output
    assert "is given twice, once in its deprecated spelling" in got.stderr and "Traceback" not in got.output


@pytest.mark.parametrize(("args", "says"), [
    (["export", "runs/nothing-here", "--tflite", "--no-tflite"], "--tflite and --no-tflite are given together"),
    (["export", "runs/nothing-here", "--no-per-channel", "--per-channel"],
     "--per-channel and --no-per-channel are given together"),
    (["data", "fetch", "fashion-mnist", "--photos"], "--photos and fashion-mnist are given together"),
])
def test_an_old_flag_contradicting_its_new_one_is_refused_before_any_work(args, says, tmp_path, monkeypatch):
    """The old flags let the last one win; now the command line says one thing or is refused (nothing fetched or
    exported: the run folder does not even exist)."""
    monkeypatch.chdir(tmp_path)
    got = runner.invoke(app, args)
    assert got.exit_code == 2 and says in got.stderr and "Traceback" not in got.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bench_thread_counts_are_capped_at_the_cores_with_a_note(own_model):
    got = runner.invoke(app, ["bench", "--model", str(own_model), "--threads", "4096", "--threads", "1",
                              "--batch-size", "1", "--rounds", "2", "--json"])
    assert got.exit_code == 0, got.output
    cores = len(os.sched_getaffinity(0))
    assert f"note: --threads 4096 is more than the {cores} cores here; using {cores}" in got.stderr
    assert sorted({row["threads"] for row in json.loads(got.stdout)["rows"]}) == sorted({cores, 1})


def test_the_old_export_flags_run_the_default_export(tmp_path):
    """--tflite --per-channel run the command as the default does, with both warnings: here up to the same refusal of a
    run folder with no model (the test above shows they parse as the default; the default export itself is
    conftest's exported_mlp and exported_cnn)."""
    run = tmp_path / "run"
    run.mkdir()
    before, after = runner.invoke(app, ["export", str(run), "--tflite", "--per-channel"]), runner.invoke(app, [
        "export", str(run)])
    assert before.exit_code == after.exit_code != 0 and "Traceback" not in before.output
    assert before.stderr.count("is deprecated, leave it out") == 2
    assert before.stderr.splitlines()[2:] == after.stderr.splitlines() and after.stderr.strip()
    assert list(run.iterdir()) == []
