"""House rules that can be checked: a function does one thing, so none, the CLI's commands included, has a body
longer than MAX_BODY lines (a command's options are its signature, not its body)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fmnist"
MAX_BODY = 60


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


def test_xdist_groups_keep_their_tests_on_one_worker(tmp_path):
    """The tests that build wheels in the source tree share the xdist group "builds-the-wheel" so that they run
    one at a time. pytest 9.2 silently broke loadgroup (pytest-xdist#1386); this fails if grouping breaks again."""
    import subprocess
    import sys

    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "@pytest.mark.xdist_group('together')\n"
        "def test_grouped(i, tmp_path_factory):\n"
        "    out = tmp_path_factory.getbasetemp().parent.parent / f'worker-{i}'\n"
        "    out.write_text(os.environ['PYTEST_XDIST_WORKER'])\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_free(i):\n"
        "    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                           "no:cacheprovider", "--basetemp", str(tmp_path / "base"), str(tmp_path / "test_grouped.py")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {(tmp_path / f"worker-{i}").read_text() for i in range(6)}
    assert len(workers) == 1, workers
