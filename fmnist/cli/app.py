"""The `fmnist` app: its options, and library errors (FmnistError) as one `error: …` line and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from fmnist import __version__

try:  # typer vendors click from its 0.2x releases; before, it used click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - typer < 0.2x
    from click import UsageError
from fmnist.core.errors import FmnistError, escaped
from fmnist.core.verbosity import set_verbose


def without_type_noise(params: list[Any]) -> list[Any]:
    """Help rows show a type only where it tells the reader something: a flag (--json, --help) takes no value,
    and an argument's help says what it takes, so typer's `<bool>` and `<list[str]>` are left out."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, TyperArgument):
            param.display_type_rich = _no_type
    return params


def _no_type(ctx: Any) -> None:
    return None


def usage_piece(param: Any, ctx: Any) -> list[str]:
    """An argument as the usage line shows it: INPUTS... (required), [PHOTOS] (optional); an option, as typer
    shows it."""
    if not isinstance(param, TyperArgument):
        return list(param.get_usage_pieces(ctx))
    name = param.metavar or param.name.upper()
    name += "..." if param.nargs != 1 else ""
    return [name if param.required else f"[{name}]"]


class FmnistCommand(TyperCommand):
    """Every fmnist command: its help rows show no type noise, and its usage line no hidden (deprecated)
    argument."""

    def get_params(self, ctx: Any) -> list[Any]:
        return without_type_noise(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        shown = [param for param in self.get_params(ctx) if not getattr(param, "hidden", False)]
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [piece for param in shown for piece in usage_piece(param, ctx)]


class FmnistGroup(TyperGroup):
    """Turns a library error into `error: …` on stderr and its exit code, with no traceback; its flags' help rows
    show no type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return without_type_noise(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FmnistError as e:
            typer.echo(f"error: {escaped(e)}", err=True)  # one line, whatever name it holds
            raise typer.Exit(e.exit_code) from None
        except UsageError as e:  # a command's own parse errors too: click raises them from here
            if not e.format_message():  # no_args_is_help: the help is the answer
                raise
            where = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            raise _usage_exit(e, where, _placed_after(e, ctx, ctx.invoked_subcommand)) from None

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as e:  # `fmnist --nope`: the group's own options
            if not e.format_message():  # `fmnist` alone: its help
                raise
            where = " ".join(filter(None, (parent.command_path if parent else None, info_name)))
            raise _usage_exit(e, where or "fmnist", _placed_after(e, parent, info_name) if parent else "") from None


def _usage_exit(error: UsageError, where: str, hint: str = "") -> typer.Exit:
    """A usage error as one `error:` line (not typer's boxed panel): click's message, a hint, where the help is."""
    message = " ".join(error.format_message().split()).rstrip(".")
    typer.echo(f"error: {message}; {hint}see {where} --help", err=True)
    return typer.Exit(error.exit_code)


def _placed_after(error: UsageError, ctx: Any, command: str | None) -> str:
    """For fmnist's own option (--verbose) given after `command`, a command of the group `ctx` runs, and not before
    it: where it goes. An eager one (--version) answers alone."""
    name, root = getattr(error, "option_name", None), ctx.find_root()  # click's NoSuchOption
    own = next((p for p in root.command.params if name in getattr(p, "opts", ())), None)
    if own is None or root.params.get(own.name) or not command:
        return ""
    if own.is_eager:
        return f"{name} goes alone: {root.command_path} {name}; "
    words = [*ctx.command_path.split()[len(root.command_path.split()):], command]
    return f"{name} goes before the command: {root.command_path} {name} {' '.join(words)} …; "


def add_command(group: typer.Typer, function: Callable[..., Any], name: str | None = None,
                help: str | None = None) -> None:
    """Register `function` as the command `name` of `group` (default: the function's name, dashed)."""
    group.command(name, help=help, cls=FmnistCommand)(function)


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
    """Fashion-MNIST from a Keras notebook to a device: classify, train, export with a parity gate, bench.

    **Quick start**: classify a photo with the shipped model, right after install (no dataset, no TensorFlow).

    Example: fmnist classify photo.jpg

    Then, with fmnist[train] and the dataset (fmnist data fetch), train the default model and export it:

    Example: fmnist train --model edge

    Example: fmnist export runs/edge --int8
    """
    if verbose:
        set_verbose()

