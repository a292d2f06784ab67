"""core.atomic.swap_folder and core.tree_record, with which `bundle` and `data fetch photos` put a finished folder in
place over an earlier one: the earlier folder is replaced only while it holds just its recorded files, and is never
lost, even when something is put at its name while it is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmnist.core.atomic import swap_folder
from fmnist.core.errors import FmnistError, UsageError
from fmnist.core.tree_record import Refusal, not_as_recorded, read_record, record_tree, refusal


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


def remove_deep(top: Path) -> None:
    """A chain of nested folders removed from the bottom up: shutil.rmtree (and pytest's clean-up of old temporary
    folders, which uses it) recurses a level at a time and fails past Python's recursion limit."""
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for path in reversed(chain):
        path.rmdir()


def test_a_folder_nested_thousands_deep_in_a_recorded_tree_is_named_once_not_a_recursion_error(tmp_path):
    """An earlier bundle or photo set holding a folder of yours 1,100 deep (past Python's recursion limit, which
    the first recursive walk hit): it is named once, and its insides are not walked."""
    tree = folder(tmp_path / "tree", "ours")
    record_tree(tree, ".record", "a test")
    deep = tree / "d"
    try:
        for _ in range(1100):
            deep.mkdir()
            deep = deep / "d"
        recorded = read_record(tree, ".record")
        assert recorded == {"file.txt": recorded["file.txt"]}
        assert not_as_recorded(tree, recorded, "a test", skip=lambda entry: entry.name == ".record") == [
            "d/ (not written by a test)"]
    finally:
        remove_deep(tree / "d")


def test_refusal_names_each_reason_an_earlier_folder_is_kept(tmp_path):
    """The one rule bundle and fetch photos replace an earlier folder by: theirs, whole and unchanged, or a reason."""
    ours = folder(tmp_path / "ours", "ours")
    record_tree(ours, ".record", "a test")
    assert refusal(ours, ".record", "a test") is None
    yours = folder(tmp_path / "yours", "yours")
    assert refusal(yours, ".record", "a test") == Refusal("not made")
    assert refusal(tmp_path / "missing", ".record", "a test") == Refusal("not made")
    (tmp_path / "link").symlink_to(ours)
    assert refusal(tmp_path / "link", ".record", "a test") == Refusal("not made")
    (yours / ".record").mkdir()  # a folder of yours under the record's name is no record
    assert refusal(yours, ".record", "a test") == Refusal("not made")
    old = folder(tmp_path / "old", "old")
    (old / ".record").write_text('{"made_by": "fmnist 0.1.0"}\n')  # an older record, listing no files
    assert refusal(old, ".record", "a test") == Refusal("no list")
    (ours / "file.txt").write_text("edited")
    (ours / "mine.txt").write_text("added")
    assert refusal(ours, ".record", "a test") == Refusal("changed",
                                                         "file.txt (edited), mine.txt (not written by a test)")
    (ours / "mine.txt").unlink()
    (ours / "file.txt").write_text("ours")
    (ours / "sub").mkdir()  # a folder of yours is named once
    assert refusal(ours, ".record", "a test") == Refusal("changed", "sub/ (not written by a test)")
