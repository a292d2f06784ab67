"""Errors the user can fix. Each says what failed, the value, and the fix.

The CLI prints one as a single `error: …` line on stderr and exits with its code.
Any other exception is a bug and keeps its traceback.

Exit codes (documented in the README):
    1  a batch finished with some failed inputs; a video source could not be opened or dropped
    2  bad usage (Typer/Click)
    3  dataset missing or corrupt
    4  model file missing, unreadable or of the wrong kind (made for another preprocessing included)
    5  parity gate failed
    6  an optional dependency is missing
"""

from __future__ import annotations


class FmnistError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    exit_code = 1


class UsageError(FmnistError):
    exit_code = 2


class DataError(FmnistError):
    exit_code = 3


class ModelError(FmnistError):
    exit_code = 4


class PreprocessMismatch(ModelError):
    """A model made for another preprocessing than this fmnist's: its labels would be silently wrong."""


class ParityError(FmnistError):
    exit_code = 5

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report  # the ParityReport (fmnist.export.parity), so the caller can still show the table


class DependencyError(FmnistError):
    exit_code = 6


class SourceError(FmnistError):
    exit_code = 1  # live: a camera or stream that cannot be opened or dropped


def needs_train_extra(module: str) -> DependencyError:
    """The error for a missing training-side package."""
    return DependencyError(f"this command needs {module}: pip install 'fmnist[train]'")


def printable(value: object, limit: int = 40) -> str:
    """A value from a file, as an error line may show it: control characters (a newline would forge a second
    `error:` line, ESC would drive the terminal) as '?', at most `limit` characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def listed(items: list[str], shown: int = 5) -> str:
    """`items` for an error line: the first `shown`, comma-separated, then how many more ("a, b and 3 more")."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def escaped(value: object) -> str:
    """A name or message for a line of text output, whole: each control character escaped as repr escapes it
    (a newline as \\n, ESC as \\x1b), so a file name can neither forge a line of output nor drive the terminal."""
    text = str(value)
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
