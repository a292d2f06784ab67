"""core.atomic.swap_folder, which `bundle` and `data fetch photos` use to put a finished folder in place: an earlier
folder moved aside is never lost, even when something is put at its name while it is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmnist.core.atomic import swap_folder
from fmnist.core.errors import FmnistError, UsageError


def folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "file.txt").write_text(text)
    return path


def test_an_earlier_folder_that_fails_its_check_is_put_back(tmp_path):
    ready, final = folder(tmp_path / "ready", "new"), folder(tmp_path / "final", "yours")

    def refuse(_: Path) -> None:
        raise UsageError("not ours")

    with pytest.raises(UsageError, match="not ours"):
        swap_folder(ready, final, tmp_path / "aside", check=refuse)
    assert (final / "file.txt").read_text() == "yours" and (ready / "file.txt").read_text() == "new"


def test_a_folder_put_at_the_name_meanwhile_keeps_both_and_says_where(tmp_path):
    """Another process (a second fetch) makes the name while the earlier folder is aside: the put-back cannot take
    the name, so the earlier folder is kept beside it, outside the caller's temporary folder, which is removed."""
    work = tmp_path / "work"
    work.mkdir()
    ready, final = folder(work / "ready", "new"), folder(tmp_path / "final", "yours")

    def meanwhile(_: Path) -> None:
        folder(final, "theirs")
        raise UsageError("not ours")

    with pytest.raises(FmnistError, match=r"final: something was put there while fmnist worked .*; it is left as it "
                                          r"is, and the earlier final is kept whole as .*final\.kept\.\w+/final$"):
        swap_folder(ready, final, work / "aside", check=meanwhile)
    assert (final / "file.txt").read_text() == "theirs"
    (kept,) = tmp_path.glob("final.kept.*/final")
    assert (kept / "file.txt").read_text() == "yours"
