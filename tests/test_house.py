"""House rules that can be checked: a function does one thing, so none, the CLI's commands included, has a body
longer than MAX_BODY lines (a command's options are its signature, not its body)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

PACKAGE = Path(__file__).resolve().parent.parent / "fmnist"
MAX_BODY = 60
pytest_plugins = ("pytester",)  # test_xdist_groups_keep_their_tests_on_one_worker collects a file in-process


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        else body[0]
    return (node.end_lineno or first.lineno) - first.lineno + 1


def long_functions(source: str, where: str) -> list[str]:
    return [f"{where}:{node.lineno} {node.name} ({body_lines(node)} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and body_lines(node) > MAX_BODY]


def test_no_function_is_longer_than_60_lines():
    found = [f for path in sorted(PACKAGE.rglob("*.py"))
             for f in long_functions(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert not found, "split these:\n" + "\n".join(found)


def test_the_check_counts_a_long_body():
    source = "def f():\n    '''doc'''\n" + "    x = 1\n" * 61
    assert long_functions(source, "x.py") == ["x.py:1 f (61 lines)"]
    assert long_functions(source.replace("    x = 1\n", "", 1), "x.py") == []


GROUPED = """
import pytest

@pytest.mark.parametrize("i", range(4))
@pytest.mark.xdist_group("together")
def test_grouped(i):
    pass

@pytest.mark.parametrize("i", range(6))
def test_free(i):
    pass
"""


class Worker:
    """What pytest-xdist's scheduler sees of a worker: its id, the tests it is sent, its shutdown."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def test_xdist_groups_keep_their_tests_on_one_worker(pytester):
    """The tests that build wheels in the source tree share the xdist group "builds-the-wheel" so that they run
    one at a time. pytest 9.2 silently broke loadgroup (pytest-xdist#1386: the group suffix a worker writes into each
    marked test's id no longer took). Here this pytest collects a grouped file, xdist's worker hook names the groups,
    and xdist's loadgroup scheduler deals the tests to two workers until all are done."""
    from xdist.remote import WorkerInteractor
    from xdist.scheduler import LoadGroupScheduling

    pytester.makepyfile(test_grouped=GROUPED)
    items, _ = pytester.inline_genitems("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")
    config = items[0].config
    config.option.loadgroup, config.option.tx = True, ["2*popen"]  # as `-n 2 --dist loadgroup` sets them
    WorkerInteractor.pytest_collection_modifyitems(None, config, items)  # type: ignore[arg-type]  # self unused
    ids = [item.nodeid for item in items]
    assert sum(i.endswith("@together") for i in ids) == 4, ids
    scheduler, workers = LoadGroupScheduling(config), [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, ids)
    scheduler.schedule()
    done: set[tuple[int, int]] = set()
    for _ in ids:  # each round completes what the workers were sent, and the scheduler sends them more
        for w, worker in enumerate(workers):
            for index in [i for i in worker.sent if (w, i) not in done]:
                done.add((w, index))
                scheduler.mark_test_complete(worker, index)
    assert scheduler.tests_finished
    ran = [[ids[i] for i in worker.sent] for worker in workers]
    assert sorted(ran[0] + ran[1]) == sorted(ids)  # every test ran, once
    grouped = [sum(i.endswith("@together") for i in names) for names in ran]
    assert sorted(grouped) == [0, 4]  # the group on one worker
    assert all(len(names) > g for names, g in zip(ran, grouped, strict=True))  # the free tests on both
