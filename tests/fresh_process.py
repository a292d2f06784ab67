"""fmnist's CLI in a process of its own, for the tests that a refusal comes before TensorFlow loads: a pytest worker
may have loaded it for other tests already.

Each run is a child of a fork server that has imported `fmnist.cli` and nothing else, as `python -c "from fmnist.cli
import main; main()"` would have before main() runs. Anything the command imports (TensorFlow above all) is imported
in the child alone. The 21 tests that use it took 12.7-13.0 s of CPU with a new interpreter each, 4.2-4.6 s forked
(pytest's own start included in both)."""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
from pathlib import Path

_SERVER = multiprocessing.get_context("forkserver")
_SERVER.set_forkserver_preload(["fmnist.cli"])


def _run(argv: list[str], cwd: str, env: dict[str, str], err: str, outcome: str) -> None:
    """In the child: the test's directory and environment, stderr to the file `err`, stdout discarded; then main()
    and "CODE BOOL" (its exit code, whether TensorFlow was loaded) to the file `outcome`."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, os.devnull), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = argv
    from fmnist.cli import main

    code: object = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    sys.stdout.flush()
    sys.stderr.flush()
    Path(outcome).write_text(f"{code} {'tensorflow' in sys.modules}")


def run_fresh(*args: str) -> tuple[str, str]:
    """`fmnist ARGS` in a process of its own: (its exit code and whether TensorFlow was loaded, as "CODE BOOL"; its
    stderr)."""
    with tempfile.TemporaryDirectory(prefix="fmnist-fresh-") as folder:
        err, outcome = Path(folder) / "stderr", Path(folder) / "outcome"
        child = _SERVER.Process(target=_run, args=(["fmnist", *args], os.getcwd(), dict(os.environ), str(err),
                                                   str(outcome)))
        child.start()
        child.join(timeout=120)
        if child.is_alive():
            child.kill()
            child.join()
        text = err.read_text(errors="replace") if err.exists() else ""
        assert outcome.exists(), f"the command's process ended with {child.exitcode} and no outcome: {text}"
        return outcome.read_text(), text
