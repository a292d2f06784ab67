"""classify's cold start, one checkout against another, side by side (scripts/cli_cold_start.py times one):
`python scripts/cold_start_side_by_side.py OLD NEW [N]`.

Each of N rounds runs `python -m fmnist classify fmnist/assets/sample.jpg` once from OLD's and once from NEW's source
tree (PYTHONPATH), in turn, with bytecode on (as a pip install has it), and prints the median wall and CPU time
(user + sys) of each. Make OLD with `git worktree add /tmp/old <commit>`; compile both with `python -m compileall`.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def once(root: Path, photo: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one classify from the checkout at `root`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fmnist", "classify", str(photo)], env=env, capture_output=True,
                   check=True, cwd="/")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    old, new = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    photo = new / "fmnist" / "assets" / "sample.jpg"
    once(old, photo), once(new, photo)  # the first start of a model also fills the model check's cache
    times: dict[Path, list[tuple[float, float]]] = {old: [], new: []}
    for _ in range(rounds):
        for root in (old, new):
            times[root].append(once(root, photo))
    for label, root in (("old", old), ("new", new)):
        wall, cpu = (statistics.median(t[i] for t in times[root]) * 1000 for i in (0, 1))
        print(f"{label} {root}: wall median {wall:.0f} ms, cpu median {cpu:.0f} ms over {rounds} runs")


if __name__ == "__main__":
    main()
