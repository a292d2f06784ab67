"""Spellings renamed so that the CLI speaks one dialect, kept working for one release: each old spelling is a hidden
option or argument (or an old form of a value) that still works and says so in one line on stderr:

    warning: --old is deprecated, use --new (removed in the next release)

Remove this module's users, and the hidden parameters, in the release after the renames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

from fmnist.core.errors import UsageError

T = TypeVar("T")


def warning(old: str, new: str | None = None, instead: str | None = None) -> str:
    """The line: `use NEW`, or what to do `instead` when the old spelling has no new one (a default's flag)."""
    return f"warning: {old} is deprecated, {instead or f'use {new}'} (removed in the next release)"


def given(value: object) -> bool:
    return value not in (None, False, (), [])


def renamed(old: str, new: str | None = None, instead: str | None = None) -> Callable[..., Any]:
    """The callback of the hidden parameter that keeps `old` working: one warning line when it is given."""

    def callback(ctx: typer.Context, value: Any) -> Any:
        if given(value) and not ctx.resilient_parsing:
            typer.echo(warning(old, new, instead), err=True)
        return value

    return callback


def either(new_value: T, old_value: T, name: str) -> T:
    """The value given under the new spelling, or else under the old one; both at once is refused (exit 2)."""
    if not given(old_value):
        return new_value
    if given(new_value):
        raise UsageError(f"{name} is given twice, once in its deprecated spelling; give it once, as {name}")
    return old_value


def not_both(old_given: bool, new_given: bool, old: str, new: str) -> None:
    """An old spelling given with a new one that contradicts it (`--tflite --no-tflite`) is refused (exit 2); the
    old flags let the last one win, which a reader of the command line cannot see."""
    if old_given and new_given:
        raise UsageError(f"{old} and {new} are given together; give one of them")


def counts(option: str, old: str | None = None) -> Callable[..., Any]:
    """The callback of a repeatable option of whole numbers of at least 1 (`--threads 1 --threads 2`; None when
    not given), which also takes the old comma-separated form (`--threads 1,2`), or the `old` option's, with the
    warning."""

    def callback(ctx: typer.Context, values: list[str] | None) -> list[int] | None:
        values = list(values or [])
        if not values:
            return None
        numbers = positive(values, option)  # refused first: a bad value is one error line, with no warning
        joined = [v for v in values if "," in v or old]
        if joined and not ctx.resilient_parsing:
            parts = [part.strip() for value in joined for part in value.split(",") if part.strip()]
            typer.echo(warning(" ".join(f"{old or option} {value}" for value in joined),
                               " ".join(f"{option} {part}" for part in parts)), err=True)
        return numbers

    return callback


def positive(values: list[str], option: str) -> list[int]:
    """Each value (or comma-separated part of one) as a whole number of at least 1; UsageError (exit 2) otherwise."""
    parts = [part.strip() for value in values for part in value.split(",")]
    try:
        numbers = [int(part) for part in parts if part]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 1 or len(numbers) < len(values):
        raise UsageError(f"{option} takes a whole number of at least 1, given once per value (e.g. {option} 1 "
                         f"{option} 2); got {' '.join(values)!r}")
    return numbers
