"""Every `--help` reads well in an 80-column terminal: paragraphs reflowed to the width (no sentence broken by a
docstring's own line break), each example on its own, nothing wider than the terminal, no markup or `%%` shown."""

from __future__ import annotations

import inspect
import itertools
import re

import pytest
import typer.main
from typer.testing import CliRunner

from fmnist.cli import app

WIDTH = 80
MARKUP = ("**", "`")  # Markdown the help may use; it is rendered, never shown


def all_helps() -> list[list[str]]:
    """The app, its groups and every command, read from the app itself."""
    out: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        out.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def command_of(path: list[str]) -> object:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def render(path: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("typer.rich_utils.MAX_WIDTH", None)  # $TERMINAL_WIDTH, read at import, would override
    got = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "FORCE_COLOR": None},
                             terminal_width=WIDTH)
    assert got.exit_code == 0, got.output
    return got.stdout


def plain(text: str) -> str:
    for mark in MARKUP:
        text = text.replace(mark, "")
    return text


def squeeze(text: str) -> str:
    """Without any whitespace: text wrapped anywhere (a long word folded, too) compares equal."""
    return re.sub(r"\s+", "", text)


def description(text: str) -> list[str]:
    """The rendered lines above the first panel (usage and the docstring's paragraphs)."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    return [line.rstrip() for line in lines[:end]]


def blocks(lines: list[str]) -> list[list[str]]:
    """Runs of non-blank lines: each a paragraph as rendered."""
    out: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [b for b in out if b]


def ragged(lines: list[str], width: int) -> list[str]:
    """Line breaks a reflow would not make: the next line's first word would have fitted on this one."""
    return [f"{a.strip()!r} / {b.strip()!r}" for a, b in itertools.pairwise(lines)
            if len(a.strip()) + 1 + len(b.split()[0]) <= width]


def paragraphs(command: object) -> list[str]:
    help_text = inspect.cleandoc(getattr(command, "help", None) or "")
    return [p.strip() for p in help_text.split("\n\n") if p.strip()]


def panel(text: str, title: str) -> list[str]:
    """The inside of a panel's rows, borders cut off."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(f"╭─ {title} ")), None)
    if start is None:
        return []
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))
    return [line[2:-2] for line in lines[start + 1 : end]]


HELPS = all_helps()


@pytest.mark.parametrize("path", HELPS, ids=lambda p: " ".join(["fmnist", *p]))
def test_help_fits_80_columns_and_shows_no_markup(path, monkeypatch):
    text = render(path, monkeypatch)
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"lines wider than {WIDTH}: {wide}"
    for mark in ("%%", *MARKUP, "[b]", "[/b]", "\b"):
        assert mark not in text, f"{mark!r} shows in the help"


@pytest.mark.parametrize("path", HELPS, ids=lambda p: " ".join(["fmnist", *p]))
def test_help_paragraphs_reflow_to_the_width(path, monkeypatch):
    text = render(path, monkeypatch)
    shown = description(text)
    for block in blocks(shown):
        assert not ragged(block, WIDTH - 2), f"a docstring's line break shows: {ragged(block, WIDTH - 2)}"
    every = squeeze("".join(shown))
    for paragraph in paragraphs(command_of(path)):
        assert squeeze(plain(paragraph)) in every, f"not shown as written: {paragraph!r}"


@pytest.mark.parametrize("path", [p for p in HELPS if p and not getattr(command_of(p), "commands", None)],
                         ids=lambda p: " ".join(["fmnist", *p]))
def test_every_example_is_its_own_paragraph(path, monkeypatch):
    """Each docstring line starting `Example:` is a paragraph of the help on its own: never joined with the prose
    around it (it may wrap where it is wider than the terminal); an indented (literal) line keeps its own line."""
    text = render(path, monkeypatch)
    lines = inspect.cleandoc(command_of(path).help or "").splitlines()  # type: ignore[attr-defined]
    examples = [line for line in lines if line.startswith("Example:")]
    assert examples, "no Example: line"
    shown = {" ".join(" ".join(block).split()): block for block in blocks(description(text))}
    for example in examples:
        block = shown.get(" ".join(example.split()))
        assert block, f"{example!r} is not a paragraph of its own in:\n{text}"
        assert block[0].strip().startswith(f"Example: fmnist {' '.join(path)} ")
    rendered = {line.strip() for line in description(text)}
    for literal in (line.strip() for line in lines if line.startswith((" ", "\t")) and line.strip()):
        assert literal in rendered, f"the literal line {literal!r} is not on a line of its own"


@pytest.mark.parametrize("path", [p for p in HELPS if getattr(command_of(p), "commands", None)],
                         ids=lambda p: " ".join(["fmnist", *p]))
def test_the_command_list_reflows_each_summary(path, monkeypatch):
    rows = panel(render(path, monkeypatch), "Commands")
    assert rows
    name = rows[0].split()[0]
    start = len(name) + len(rows[0][len(name):]) - len(rows[0][len(name):].lstrip())  # the summaries' column
    column = len(rows[0]) - start
    summaries: list[list[str]] = []
    for row in rows:
        if not row[0].isspace():
            summaries.append([])
        summaries[-1].append(row[start:].rstrip())
    for lines in summaries:
        assert not ragged(lines, column), f"a docstring's line break shows: {ragged(lines, column)}"


def test_the_app_help_shows_the_quick_start(monkeypatch):
    text = " ".join(render([], monkeypatch).split())
    assert "Quick start" in text
    assert "Example: fmnist train --model edge" in text


@pytest.mark.parametrize("path", [p for p in HELPS if p], ids=lambda p: " ".join(["fmnist", *p]))
def test_option_help_is_shown_as_written(path, monkeypatch):
    """Each option's help appears whole (markup rendered, no character swallowed as Markdown or Rich markup)."""
    text = render(path, monkeypatch)
    cells = "".join(re.split(r"\s{2,}", row.strip())[-1] for title in ("Options", "Arguments")
                    for row in panel(text, title) if row.strip())
    for param in command_of(path).params:  # type: ignore[attr-defined]
        if getattr(param, "help", None) and not getattr(param, "hidden", False):
            assert squeeze(plain(param.help)) in squeeze(cells), f"{param.name}'s help is not shown as written"
