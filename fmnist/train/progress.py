"""A Rich progress display for Keras `fit`: an epoch bar, a batch bar with live loss/accuracy, and one
summary line per epoch. Goes to stderr so stdout stays clean for results. Where stderr is no terminal (a log), the
bars are off, and a long epoch (the photo model's take minutes) gets a line every EVERY seconds."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from fmnist.core.tf import keras

EVERY = 60.0  # seconds between a log's lines within an epoch


class RichProgress(keras.callbacks.Callback):
    def __init__(self, epochs: int, steps: int, console: Console | None = None, start: int = 0,
                 every: float = EVERY, title: str = "") -> None:
        super().__init__()
        self.epochs, self.steps, self.start = epochs, steps, start  # start: epochs done in an earlier phase
        self.title = f"{title}: " if title else ""  # which fit, when a run has two (the photo tier's head, then all)
        self.every, self._epoch, self._said = every, 0, 0.0
        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, transient=True, disable=not self.console.is_terminal,  # logs get the epoch lines
        )
        self._epoch_start = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.bar.start()
        self.epoch_task = self.bar.add_task("epochs", total=self.epochs, completed=self.start, stats="")
        self.batch_task = self.bar.add_task("batches", total=self.steps, stats="")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = self._said = time.perf_counter()
        self._epoch = epoch
        self.bar.reset(self.batch_task, total=self.steps, description=f"epoch {epoch + 1}", stats="")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        stats = f"loss {logs.get('loss', 0):.4f} acc {logs.get('accuracy', 0):.4f}"
        self.bar.update(self.batch_task, completed=batch + 1, stats=stats)
        now = time.perf_counter()
        if not self.console.is_terminal and now - self._said >= self.every and batch + 1 < self.steps:
            self._said = now
            shown = f"loss {logs.get('loss', 0):.4f}  accuracy {logs.get('accuracy', 0):.4f}"  # as the summary
            self.console.print(f"{self.title}epoch {self._epoch + 1}/{self.epochs}  batch {batch + 1}/{self.steps}  "
                               f"{shown}  ({now - self._epoch_start:.0f} s)", soft_wrap=True, highlight=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.bar.advance(self.epoch_task)
        parts = [f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate"]
        seconds = time.perf_counter() - self._epoch_start
        line = f"{self.title}epoch {epoch + 1}/{self.epochs}  " + "  ".join(parts) + f"  ({seconds:.1f} s)"
        self.console.print(line, soft_wrap=True, highlight=False)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.bar.stop()
