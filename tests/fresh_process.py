"""fmnist's CLI in a process of its own, for the tests that a refusal comes before TensorFlow loads: a pytest worker
may have loaded it for other tests already."""

from __future__ import annotations

import subprocess
import sys

CODE = """import sys
from fmnist.cli import main
sys.argv = {argv!r}
try:
    main()
except SystemExit as e:
    print(e.code, 'tensorflow' in sys.modules)
"""


def run_fresh(*args: str) -> tuple[str, str]:
    """`fmnist ARGS` in a new Python process: (its exit code and whether TensorFlow was loaded, as "CODE BOOL"; its
    stderr)."""
    got = subprocess.run([sys.executable, "-c", CODE.format(argv=["fmnist", *args])], capture_output=True, text=True,
                         timeout=120)
    return got.stdout.strip(), got.stderr
