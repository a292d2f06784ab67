"""What the CLI's command modules share: output helpers and common options."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from fmnist.cli.deprecated import renamed
from fmnist.core.errors import FmnistError, UsageError
from fmnist.core.jsonsafe import dumps
from fmnist.runtime.shipped import DEFAULT, SHIPPED

DataDir = typer.Option(None, "--data-dir", file_okay=False,
                       help="Folder with the four IDX files (default: $FMNIST_DATA, the Debian package, ~/.keras).")
Json = typer.Option(False, "--json", help="Print JSON on stdout instead of tables.")
SHIPPED_HELP = "; ".join(f"{m.name}: {m.about}" for m in SHIPPED.values())


def model_option(files: str = "an fmnist .onnx file", without: str = f"default {DEFAULT}") -> Any:
    """`--model NAME|PATH`, the one way every command names a model: a shipped model's name or a file."""
    return typer.Option(None, "--model", "-m", metavar="NAME|PATH",
                        help=f"A shipped model, {' or '.join(SHIPPED)} ({without}), or {files} (a file named like a "
                             f"shipped model: ./NAME). {SHIPPED_HELP}.")


ModelOption = model_option()


def old_model_argument(command: str, many: bool = False) -> Any:
    """The positional MODEL that `command` took before --model (hidden; works, with a warning)."""
    name = "MODEL..." if many else "MODEL"
    return typer.Argument(None, hidden=True, metavar=name, show_default=False,
                          callback=renamed(f"fmnist {command} {name}",
                                           f"fmnist {command} --model {name.removesuffix('...')}"
                                           + (" (once per model)" if many else "")))


def command_line() -> str:
    import shlex

    return shlex.join(["fmnist", *sys.argv[1:]])


def stdout_json(obj: Any) -> None:
    """One JSON line on stdout, flushed (a reader of live's lines gets each as it comes); NaN and infinity are written
    as null (fmnist.core.jsonsafe). A reader gone (`| head -1`) ends the command quietly, exit 0; stdout that cannot
    be written (a full disk, /dev/full) is one error line, exit 1. Either way the exception leaves through the
    caller's cleanup (live's recording is finalized), and stdout is pointed at /dev/null, so that Python's last
    flush at exit has nothing to complain of."""
    if sys.stdout is None:  # started with stdout closed (>&-): Python has no stdout at all
        raise FmnistError("cannot write --json to stdout: it is closed")
    try:
        sys.stdout.write(dumps(obj) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError) as e:  # ValueError: a stdout closed under Python
        _drop_stdout()
        if isinstance(e, BrokenPipeError):
            raise typer.Exit(0) from None
        raise FmnistError(f"cannot write --json to stdout: {getattr(e, 'strerror', None) or e}") from None


def _drop_stdout() -> None:
    """stdout at /dev/null from here on: what is still buffered for a closed or full one is never written."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout in memory (a test's runner): nothing to point elsewhere
        pass


def print_rich(*renderables: Any) -> None:
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 120).print(*renderables)  # pipes/logs: no 80-column wrap


def usable_threads(threads: int) -> int:
    """--threads, at most one per core: more only wait for a core, and under a process limit the threads that
    cannot be started used to hang the run. Says so once on stderr when it lowers the count."""
    from fmnist.core import session  # onnxruntime: not for `fmnist --help`

    used = session.usable_threads(threads)
    if used != threads:
        typer.echo(f"note: --threads {threads} is more than the {used} cores here; using {used}", err=True)
    return used


def typed_options(ctx: typer.Context, names: dict[str, str]) -> list[str]:
    """Of `names` (a parameter's name -> its option, e.g. {"every": "--every"}), the options typed on the command
    line (not defaults, nor set by an environment variable)."""
    return [option for name, option in names.items()
            if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"]


def only_with(ctx: typer.Context, names: dict[str, str], present: bool, needs: str) -> None:
    """Options that mean nothing unless `present` (`--every` without `--collect-label`; `needs` says what that
    is) are refused (exit 2) rather than silently ignored."""
    unused = typed_options(ctx, names) if not present else []
    if unused:
        one = len(unused) == 1
        raise UsageError(f"{' and '.join(unused)} {'applies' if one else 'apply'} only {needs}; leave "
                         f"{'it' if one else 'them'} out")


@contextmanager
def ends_when_stopped(said: str) -> Iterator[None]:
    """SIGTERM and SIGHUP end the block as Ctrl-C does (fmnist.core.signals), and so does an error a stop caused (an
    import's ImportError): `said` on stderr, exit 130. Any other error passes."""
    from fmnist.core.signals import stop_as_interrupt, stopped_within

    try:
        with stop_as_interrupt():
            yield
    except BaseException as e:
        if not stopped_within(e):
            raise
        typer.echo(said, err=True)
        raise typer.Exit(130) from None
