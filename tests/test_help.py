"""Every `--help` reads well in an 80-column terminal, checked on the help as rendered, for every command the app
has: nothing wider than the terminal, no markup, no `<bool>` beside a flag, type labels whole, each panel's help
column wide enough to read, paragraphs reflowed to the width, and each example a whole command line that the
command's parser takes. The app's help starts with `fmnist classify`, which works right after install."""

from __future__ import annotations

import inspect
import itertools
import re
import shlex

import pytest
import typer.main
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from fmnist.cli import app

WIDTH = 80
MIN_HELP_COLUMN = 34  # characters of each panel's help column at 80 columns: over 40 % of the width
MARKUP = ("**", "`")  # Markdown the help may use; it is rendered, never shown
REMARK = re.compile(r"\s{2,}\(")  # an example's remark, after its command: `Example: fmnist x   (what it does)`


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


def context_of(path: list[str]) -> object:
    command = command_of(path)
    return command.context_class(command, info_name=path[-1] if path else "fmnist")  # type: ignore[attr-defined]


def shown_params(path: list[str]) -> list[object]:
    command = command_of(path)
    return [p for p in command.get_params(context_of(path)) if not getattr(p, "hidden", False)]  # type: ignore


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


def panels(text: str) -> dict[str, list[str]]:
    """Each panel's title and the inside of its rows, borders cut off."""
    out: dict[str, list[str]] = {}
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("╭─ "):
            end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))
            out[line[3:].split(" ─")[0]] = [row[2:-2] for row in lines[start + 1 : end]]
    return out


def panel(text: str, title: str) -> list[str]:
    return panels(text).get(title, [])


def help_column(rows: list[str]) -> int:
    """Where a panel's help column starts: each row's first line (a name within its first cells) puts its help
    text in the last cell; the column starts where the rightmost of those does."""
    firsts = [row.rstrip() for row in rows if row[:4].strip()]
    return max(len(row) - len(re.split(r"\s{2,}", row)[-1]) for row in firsts)


def examples(text: str) -> list[str]:
    """Each example as rendered: the paragraphs that start with `Example:`, their command without the remark."""
    found = []
    for block in blocks(description(text)):
        if block[0].strip().startswith("Example:"):
            found.append(REMARK.split(block[0].strip().removeprefix("Example:"))[0].strip())
    return found


def written_examples(command: object) -> list[str]:
    """Each `Example:` line of the command's help as written, its command without the remark."""
    lines = inspect.cleandoc(getattr(command, "help", None) or "").splitlines()
    return [REMARK.split(line.removeprefix("Example:"))[0].strip() for line in lines if line.startswith("Example:")]


HELPS = all_helps()
COMMANDS = [p for p in HELPS if p and not getattr(command_of(p), "commands", None)]
GROUPS = [p for p in HELPS if getattr(command_of(p), "commands", None)]
ids = lambda p: " ".join(["fmnist", *p])  # noqa: E731


@pytest.mark.parametrize("path", HELPS, ids=ids)
def test_help_fits_80_columns_and_shows_no_markup_and_no_bool(path, monkeypatch):
    text = render(path, monkeypatch)
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"lines wider than {WIDTH}: {wide}"
    for mark in ("%%", *MARKUP, "[b]", "[/b]", "\b", "<bool>", "<list[", "[OPTIONS] {"):
        assert mark not in text, f"{mark!r} shows in the help"


@pytest.mark.parametrize("path", HELPS, ids=ids)
def test_type_labels_are_whole(path, monkeypatch):
    """Each option's type label (`<int>`, a metavar, its choices) and its range sit whole on one line: never
    folded mid-word (`<minmax|entropy|p` / `ercentile>`)."""
    lines = render(path, monkeypatch).splitlines()
    ctx = context_of(path)
    for param in shown_params(path):
        labels = [param.display_type_rich(ctx) or ""] if isinstance(param, TyperOption) else []
        if isinstance(param, TyperOption | TyperArgument):
            labels.append(f"[{param._get_number_range_help_str()}]" if param._get_number_range_help_str() else "")
        for label in filter(None, labels):
            assert any(label in line for line in lines), f"{param.name}'s {label!r} is folded"


@pytest.mark.parametrize("path", HELPS, ids=ids)
def test_every_panel_leaves_its_help_column_readable(path, monkeypatch):
    inner = WIDTH - 4
    for title, rows in panels(render(path, monkeypatch)).items():
        if title != "Commands":
            assert inner - help_column(rows) >= MIN_HELP_COLUMN, f"{title}: {rows}"


@pytest.mark.parametrize("path", HELPS, ids=ids)
def test_help_paragraphs_reflow_to_the_width(path, monkeypatch):
    text = render(path, monkeypatch)
    shown = description(text)
    for block in blocks(shown):
        assert not ragged(block, WIDTH - 2), f"a docstring's line break shows: {ragged(block, WIDTH - 2)}"
    every = squeeze("".join(shown))
    for paragraph in paragraphs(command_of(path)):
        assert squeeze(plain(paragraph)) in every, f"not shown as written: {paragraph!r}"


@pytest.mark.parametrize("path", [[], *COMMANDS], ids=ids)
def test_every_example_is_one_whole_line_the_command_takes(path, monkeypatch):
    """Each `Example:` is a paragraph whose first rendered line holds its whole command, as written: never broken
    mid-command. The command parses: its options exist and take what it gives them, nothing is missing or extra."""
    shown = examples(render(path, monkeypatch))
    assert shown == written_examples(command_of(path)), "an example is broken, or joined with prose"
    assert shown, "no Example:"
    for line in shown:
        words = shlex.split(line)
        assert words[0] == "fmnist", line
        target = words[1 : 1 + len(path)] if path else [w for w in words[1:2]]
        command = command_of(target)
        args = words[1 + len(target) :]
        given, extra, _ = command.make_parser(context_of(target)).parse_args(list(args))  # type: ignore[attr-defined]
        missing = {p.name for p in command.params if p.required and given.get(p.name) is None}  # type: ignore
        assert not extra and not missing, (line, extra, missing)


def test_the_app_help_starts_with_classify_which_works_right_after_install(monkeypatch):
    assert examples(render([], monkeypatch))[0] == "fmnist classify photo.jpg"


@pytest.mark.parametrize("path", GROUPS, ids=ids)
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


@pytest.mark.parametrize("path", [p for p in HELPS if p], ids=ids)
def test_option_help_is_shown_as_written(path, monkeypatch):
    """Each option's help appears whole (markup rendered, no character swallowed as Markdown or Rich markup)."""
    text = render(path, monkeypatch)
    cells = "".join(re.split(r"\s{2,}", row.strip())[-1] for rows in panels(text).values() for row in rows
                    if row.strip())
    for param in shown_params(path):
        if getattr(param, "help", None):
            assert squeeze(plain(param.help)) in squeeze(cells), f"{param.name}'s help is not shown as written"
