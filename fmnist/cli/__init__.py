"""The `fmnist` command, one module per command group. Each command parses its options, makes one library call
and prints the result.

TensorFlow-side modules are imported inside the command bodies, so `--help` and the runtime commands stay light.
Library errors (FmnistError) become one `error: …` line on stderr and the error's exit code (fmnist.cli.app).
"""

from __future__ import annotations

from fmnist.cli import data, deploy, export, model, runtime, train
from fmnist.cli.app import app

for group in (data, train, export, model, runtime, deploy):
    group.register(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
