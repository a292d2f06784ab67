from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fresh_process import run_fresh
from photo_tree import make_tree
from typer.testing import CliRunner

from fmnist.cli import app

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib")


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom fmnist.cli import main\nsys.argv = ['fmnist', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def all_commands() -> list[list[str]]:
    """Every command of the app, groups expanded, read from the app itself."""
    import typer.main

    root = typer.main.get_command(app)
    out = []
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        out += [[name, sub] for sub in subcommands] if subcommands else [[name]]
    return out


def test_the_app_has_the_documented_commands():
    assert sorted(" ".join(c) for c in all_commands()) == sorted([
        "data info", "data fetch", "train", "train-own", "export", "evaluate", "info", "classify", "live", "serve",
        "bench", "bundle"])


def test_python_dash_m_runs_the_cli():
    got = subprocess.run([sys.executable, "-m", "fmnist", "--version"], capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout.startswith("fmnist ")


def test_missing_data_dir_is_one_error_line_and_exit_3(tmp_path):
    for args in (["data", "info", "--data-dir", str(tmp_path / "nope")],
                 ["train", "--data-dir", str(tmp_path), "--limit", "100"]):
        got = runner.invoke(app, args)
        assert got.exit_code == 3, got.output
        assert got.stderr.startswith("error: data folder ") and "fmnist data fetch --dest" in got.stderr
        assert got.stderr.count("\n") == 1 and "Traceback" not in got.output


@pytest.mark.parametrize("model", ["edge", "photo"])
def test_train_says_a_missing_dataset_before_it_loads_tensorflow(tmp_path, model):
    """The check comes first: a user waits for no TensorFlow import (seconds) to hear the data is missing."""
    photos = tmp_path / "photos"
    photos.mkdir()
    outcome, err = run_fresh("train", "--model", model, "--data-dir", str(tmp_path / "nope"), "--photos", str(photos),
                             "--photos-val", str(photos))
    assert outcome == "3 False", err
    assert err.startswith("error: data folder ") and err.count("\n") == 1


@pytest.mark.slow  # 1 s each: three refusals, each in a fresh process
@pytest.mark.parametrize("model", ["edge", "photo"])
def test_train_says_an_empty_photo_folder_or_a_bad_photo_map_before_it_loads_tensorflow(tmp_path, real_data_dir,
                                                                                        model):
    empty, bad_map = tmp_path / "empty", tmp_path / "map.json"
    (empty / "shirt").mkdir(parents=True)  # a class folder with no photo in it
    bad_map.write_text('{"shirt": ')
    photos = make_tree(tmp_path / "photos", per_class=1, classes=("t-shirt",))  # a folder the default map knows
    cases = [((empty, photos, None), "3 False", f"error: {empty} has no class subfolders with photos"),
             ((photos, photos, bad_map), "2 False", f"error: cannot read the photo map {bad_map}: "),
             ((photos, empty, None), "3 False", f"error: {empty} has no class subfolders with photos")]
    for (train, val, pmap), code, start in cases:
        outcome, err = run_fresh("train", "--model", model, "--data-dir", str(real_data_dir), "--photos", str(train),
                                 "--photos-val", str(val), *(["--photo-map", str(pmap)] if pmap else []),
                                 "--out", str(tmp_path / "run"))
        assert outcome == code and err.startswith(start) and err.count("\n") == 1, (outcome, err)
    assert not (tmp_path / "run").exists()


def test_train_own_refuses_an_init_that_is_not_a_keras_archive_before_it_loads_tensorflow(tmp_path):
    """`train-own --init junk.keras` ended in a traceback after the photos were read; now one line, exit 4, first."""
    photos = tmp_path / "photos"
    for name in ("hat", "pants"):
        (photos / name).mkdir(parents=True)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a model")
    outcome, err = run_fresh("train-own", str(photos), "--init", str(junk), "--out", str(tmp_path / "run"))
    assert outcome == "4 False", err
    assert err.startswith(f"error: cannot load {junk} as a Keras model") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_fmnist_data_env_var_is_honoured(tmp_path):
    got = runner.invoke(app, ["data", "info"], env={"FMNIST_DATA": str(tmp_path)})
    assert got.exit_code == 3
    assert got.stderr.startswith(f"error: data folder {tmp_path} (from $FMNIST_DATA) lacks train-images")


def test_data_info_json_reports_location_and_counts(real_data_dir):
    got = runner.invoke(app, ["data", "info", "--json"])
    assert got.exit_code == 0
    info = json.loads(got.stdout)
    assert info["path"] == str(real_data_dir) and info["counts"]["train"] == [6000] * 10


def test_fmnist_s_own_option_after_the_command_says_where_it_goes():
    got = runner.invoke(app, ["classify", "--verbose", "photo.jpg"], prog_name="fmnist")
    assert got.exit_code == 2 and got.stderr.strip() == (
        "error: No such option: --verbose; --verbose goes before the command: fmnist --verbose classify …; see fmnist "
        "classify --help")
    got = runner.invoke(app, ["data", "fetch", "--verbose"], prog_name="fmnist")  # a command of a group
    assert got.exit_code == 2 and "--verbose goes before the command: fmnist --verbose data fetch …" in got.stderr
    for given in (["data", "--verbose", "fetch"], ["data", "--verbose"]):  # after the group: refused by the group
        got = runner.invoke(app, given, prog_name="fmnist")
        assert got.exit_code == 2 and "--verbose goes before the command: fmnist --verbose data …" in got.stderr, given
    got = runner.invoke(app, ["classify", "--version"], prog_name="fmnist")  # eager: it answers alone
    assert got.exit_code == 2 and "--version goes alone: fmnist --version; see" in got.stderr
    got = runner.invoke(app, ["--verbose", "classify", "--verbose", "photo.jpg"], prog_name="fmnist")  # given already
    assert got.exit_code == 2 and "goes before the command" not in got.stderr
    got = runner.invoke(app, ["classify", "--nope", "photo.jpg"], prog_name="fmnist")
    assert got.exit_code == 2 and "goes before the command" not in got.stderr and "No such option: --nope" in got.stderr


def test_unknown_model_is_a_usage_error():
    got = runner.invoke(app, ["train", "--model", "resnet"])
    assert got.exit_code == 2 and "resnet" in got.output


def test_a_file_named_like_a_shipped_model_is_read_as_dot_slash_name(tmp_path, monkeypatch):
    """`--model edge` is the shipped model; `--model ./edge` is the file of that name (here, the photo model)."""
    from fmnist.runtime.shipped import SHIPPED

    (tmp_path / "edge").write_bytes(SHIPPED["photo"].path.read_bytes())
    monkeypatch.chdir(tmp_path)
    shapes = {}
    for given in ("edge", "./edge"):
        got = runner.invoke(app, ["info", "--model", given, "--json"])
        assert got.exit_code == 0, got.output
        shapes[given] = json.loads(got.stdout)["input"]["shape"]
    assert shapes == {"edge": [None, 28, 28, 1], "./edge": [None, 160, 160, 3]}
