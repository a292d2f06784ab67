"""What the CLI's command modules share: output helpers and common options."""

from __future__ import annotations

import sys
from typing import Any

import typer

from fmnist.core.jsonsafe import dumps
from fmnist.runtime.shipped import DEFAULT, SHIPPED

DataDir = typer.Option(None, "--data-dir", file_okay=False,
                       help="Folder with the four IDX files (default: $FMNIST_DATA, the Debian package, ~/.keras).")
Json = typer.Option(False, "--json", help="Print JSON on stdout instead of tables.")
MODEL_HELP = (f"A shipped model, {' or '.join(SHIPPED)} (default {DEFAULT}), or an fmnist .onnx file: "
              + "; ".join(f"{m.name}: {m.about}" for m in SHIPPED.values()) + ".")
ModelOption = typer.Option(None, "--model", "-m", help=MODEL_HELP)


def command_line() -> str:
    import shlex

    return shlex.join(["fmnist", *sys.argv[1:]])


def stdout_json(obj: Any) -> None:
    """One JSON line on stdout; NaN and infinity are written as null (fmnist.core.jsonsafe)."""
    sys.stdout.write(dumps(obj) + "\n")


def print_rich(*renderables: Any) -> None:
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 120).print(*renderables)  # pipes/logs: no 80-column wrap
