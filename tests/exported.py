"""fmnist commands run in-process for the work several tests read, and the exported notebook CNN: conftest's
exported_cnn, and the models benchmarks/ measures when FMNIST_BENCH_RUN names none."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from typer.testing import Result

# make test's one unmeasured pass over benchmarks/ measures this copy of the tests' exported CNN (FMNIST_BENCH_RUN)
# instead of exporting another (19 s here). A copy: the test run's temp folder may be gone by then (pytest keeps
# three runs'). make test removes it as it starts, so a run that did not export one leaves none to read.
BENCH_CNN = Path(__file__).resolve().parent.parent / "test-artifacts" / "bench-cnn"


def cli(*args: str) -> Result:
    """One fmnist command, in-process; it must succeed."""
    from typer.testing import CliRunner

    from fmnist.cli import app

    got = CliRunner().invoke(app, list(args))
    assert got.exit_code == 0, got.output
    return got


def export_cnn(out: Path) -> None:
    """The notebook CNN trained one epoch on the full data (the CLI's default split), then exported to all five
    files, both by the CLI."""
    cli("train", "--model", "cnn", "--epochs", "1", "--out", str(out))
    cli("export", str(out), "--int8", "--fp16")


def hand_to_benchmarks(run: Path) -> None:
    """Copy `run` to BENCH_CNN, whole or not at all (a folder of this process's, renamed into place)."""
    BENCH_CNN.parent.mkdir(exist_ok=True)
    part = BENCH_CNN.with_name(f".bench-cnn-{os.getpid()}")
    shutil.copytree(run, part)
    shutil.rmtree(BENCH_CNN, ignore_errors=True)  # an earlier run's copy: the tests' own
    part.rename(BENCH_CNN)
