"""Training progress in a log (stderr no terminal): no bars, an epoch's summary line, and within a long epoch a
line every EVERY seconds, so that a log of the photo model's minutes-long epochs shows it is alive."""

from __future__ import annotations

import io

import pytest

# TensorFlow is imported by these tests, not when they are collected (tests/test_augment.py says why)
pytestmark = [pytest.mark.xdist_group("tensorflow"), pytest.mark.slow]


def _epoch(every: float, title: str = "") -> list[str]:
    """One epoch of 3 batches through RichProgress, written to a log; its lines."""
    from rich.console import Console

    from fmnist.train.progress import RichProgress

    log = io.StringIO()
    progress = RichProgress(4, 3, Console(file=log, force_terminal=False, width=200), start=1, every=every,
                            title=title)
    progress.on_train_begin()
    progress.on_epoch_begin(1)
    for batch in range(3):
        progress.on_train_batch_end(batch, {"loss": 1.25, "accuracy": 0.5})
    progress.on_epoch_end(1, {"loss": 1.25, "accuracy": 0.5})
    progress.on_train_end()
    return log.getvalue().splitlines()


def test_a_log_gets_a_line_within_an_epoch_every_so_often_and_the_epoch_s_summary():
    lines = _epoch(every=0.0)
    assert [line.split("  (")[0] for line in lines] == [
        "epoch 2/4  batch 1/3  loss 1.2500  accuracy 0.5000", "epoch 2/4  batch 2/3  loss 1.2500  accuracy 0.5000",
        "epoch 2/4  loss 1.2500  accuracy 0.5000"]  # the last batch's line is the epoch's summary


def test_a_short_epoch_in_a_log_is_its_summary_line_alone():
    from fmnist.train.progress import EVERY

    assert [line.split("  (")[0] for line in _epoch(every=EVERY)] == [
        "epoch 2/4  loss 1.2500  accuracy 0.5000"]


def test_a_run_that_fits_twice_says_which_fit_each_line_is():
    """The photo tier fits its head for 30 epochs, then fine-tunes: 'epoch 30/30' then 'epoch 1/5' said nothing."""
    assert [line.split("  (")[0] for line in _epoch(every=0.0, title="the head")][-1] == (
        "the head: epoch 2/4  loss 1.2500  accuracy 0.5000")
