"""A progress line on stderr for a long run whose results go to a file: how many, how fast, for how long."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

SHOWN_AFTER = 64  # items: a short run ends before a bar would tell anything


class Bar:
    """Rich's progress bar on stderr, started once SHOWN_AFTER items have gone by, only when stderr is a terminal
    and stdout is not (the lines go to a file or a pipe; on a terminal they are the progress). What the command
    writes to stderr meanwhile is printed above it."""

    def __init__(self, what: str, shown: bool | None = None) -> None:
        self.what = what
        self.shown = sys.stderr.isatty() and not sys.stdout.isatty() if shown is None else shown
        self.count = 0
        self.started = time.perf_counter()
        self.progress: Any = None

    def __enter__(self) -> Bar:
        return self

    def advance(self) -> None:
        self.count += 1
        if self.progress is None and self.shown and self.count >= SHOWN_AFTER:
            self._start()
        if self.progress is not None:
            rate = self.count / max(1e-9, time.perf_counter() - self.started)
            self.progress.update(self.task, completed=self.count,
                                 description=f"{self.count:,} {self.what}, {rate:,.0f}/s")

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True, redirect_stdout=False)
        self.progress.start()
        self.task = self.progress.add_task(self.what, total=None)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()
