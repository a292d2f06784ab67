"""The `fmnist` app: its options, and library errors (FmnistError) as one `error: …` line and an exit code."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from fmnist import __version__
from fmnist.core.errors import FmnistError, escaped
from fmnist.core.verbosity import set_verbose


class FmnistGroup(TyperGroup):
    """Turns a library error into `error: …` on stderr and its exit code, with no traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FmnistError as e:
            typer.echo(f"error: {escaped(e)}", err=True)  # one line, whatever name it holds
            raise typer.Exit(e.exit_code) from None


app = typer.Typer(
    cls=FmnistGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal; an `Example:` paragraph keeps its own
    pretty_exceptions_show_locals=False,
)


def version_line() -> str:
    """fmnist's version, each shipped model by name (its file and the start of its sha256; the default first),
    and the runtime's libraries."""
    import hashlib
    from importlib import metadata

    from fmnist.runtime.shipped import DEFAULT, Shipped, listed

    def described(model: Shipped) -> str:
        path = model.path
        sha = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else None
        return f"{model.name} {path.name} sha256 {sha}" if sha else f"{model.name} missing"

    shipped = ", ".join(described(m) + (" (default)" if m.name == DEFAULT else "") for m in listed())

    def installed(*names: str) -> str:
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return "not installed"

    return (f"fmnist {__version__} (shipped models {shipped}; onnxruntime {installed('onnxruntime')}, "
            f"OpenCV {installed('opencv-python-headless', 'opencv-python')})")


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", help="Show onnxruntime's own log lines (errors), which are "
                                                          "hidden otherwise."),
) -> None:
    """Fashion-MNIST from a Keras notebook to a device: train, export with a parity gate, classify, bench.

    **Quick start**: train the default model, then evaluate it.

    Example: fmnist train --model edge

    Example: fmnist evaluate runs/edge/model.keras
    """
    if verbose:
        set_verbose()

