"""Where `classify --ray local`'s time goes, in CPU seconds (issue 43): the same photos through PhotoActor's work
in this process, then through `on_ray.rows` on Ray actors, each stage timed on its thread's CPU clock, and the CPU
of every process Ray started. CPU, not wall time: the figures hold on a busy machine.

    .venv/bin/python scripts/ray_stage_cpu.py DIR [--actors 0]

Stages per photo: read (the file read and decoded), prep (the centre crop), model (the onnxruntime call), and the
whole __call__ (so the rest is the rows and their Arrow table); `preempted` counts the thread's involuntary context
switches. Both passes run after Ray has started, in one run. The processes that ran before it (anything else on
the machine) are left out of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import ray

from fmnist.core.session import read_model
from fmnist.deploy import on_ray
from fmnist.runtime.classifier import Classifier

STAGES = ("read", "prep", "model", "call")


def clocked(owner: object, name: str, stage: str, spent: Counter[str]) -> None:
    """owner.name, its thread CPU seconds added to spent[stage] at each call."""
    inner: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[stage] += time.thread_time() - started

    object.__setattr__(owner, name, timed)  # the preparation is a frozen dataclass


def preempted() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


class TimedActor(on_ray.PhotoActor):
    """PhotoActor with its stages clocked; after each batch, its totals in FOLDER/<pid>.json."""

    folder = ""  # set before the dataset is made: the class travels to the actors with it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spent: Counter[str] = Counter()
        clocked(self.reader, "read", "read", self.spent)
        clocked(self.classifier.preparation, "prepare", "prep", self.spent)
        clocked(self.classifier, "predict", "model", self.spent)

    def __call__(self, batch: dict[str, np.ndarray]) -> Any:
        cpu, switches = time.thread_time(), preempted()
        table = super().__call__(batch)
        self.spent["call"] += time.thread_time() - cpu
        self.spent["preempted"] += preempted() - switches
        self.spent["photos"] += len(batch["input"])
        if self.folder:
            (Path(self.folder) / f"{os.getpid()}.json").write_text(json.dumps(self.spent))
        return table


def in_process(actor: TimedActor, photos: list[str]) -> Counter[str]:
    """The actor's work on every photo, in batches of on_ray.BATCH, in this process."""
    for start in range(0, len(photos), on_ray.BATCH):
        names = np.array(photos[start : start + on_ray.BATCH], dtype=object)
        actor({"input": names, "error": np.full(len(names), "", dtype=object)})
    return actor.spent


def process_cpu() -> dict[int, tuple[str, float]]:
    """Each process's name and CPU seconds (user + system), from /proc."""
    tick, found = os.sysconf("SC_CLK_TCK"), {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        words = [Path(w.decode(errors="replace")).name for w in command[:2] if w]
        name = words[0] if words and words[0].startswith("ray::") else " ".join(words)
        found[int(pid)] = (name[:60], (int(fields[11]) + int(fields[12])) / tick)
    return found


def on_actors(classifier: Classifier, folder: str, actors: int) -> tuple[float, list[Counter[str]]]:
    """The photos through on_ray.rows with TimedActor: the wall seconds, and each actor's totals."""
    with tempfile.TemporaryDirectory() as spent:
        TimedActor.folder = spent
        on_ray.PhotoActor = TimedActor  # type: ignore[misc]  # what rows() builds its actor pool from
        started = time.perf_counter()
        lines = sum(1 for _ in on_ray.as_outcomes(on_ray.rows(classifier, [folder], on_ray.Options(
            classifier.path.name), actors)))
        seconds = time.perf_counter() - started
        totals = [Counter(json.loads(p.read_text())) for p in Path(spent).glob("*.json")]
    assert lines == sum(t["photos"] for t in totals), "each photo once"
    return seconds, totals


def show(name: str, spent: Counter[str]) -> None:
    photos = spent["photos"]
    parts = [f"{stage} {spent[stage] / photos * 1000:.2f}" for stage in STAGES]
    rest = spent["call"] - spent["read"] - spent["prep"] - spent["model"]
    print(f"  {name:22s} {photos:5d} photos  ms CPU a photo: {', '.join(parts)} (rest {rest / photos * 1000:.2f});"
          f" preempted {spent['preempted'] / photos:.2f} times a photo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--actors", type=int, default=0, help="Ray actors (0: one per CPU)")
    args = parser.parse_args()
    folder = str(args.folder.absolute())
    photos = sorted(str(p) for p in args.folder.absolute().rglob("*.jpg"))
    classifier = Classifier("photo", threads=1)
    before = set(process_cpu())
    started = on_ray.connect("local")
    try:
        actor = TimedActor([ray.put(read_model(classifier.path))], on_ray.Options(classifier.path.name))
        show("this process", in_process(actor, photos))
        cpu, driver = process_cpu(), time.process_time()
        seconds, totals = on_actors(classifier, folder, args.actors)
        driver = time.process_time() - driver
        after = process_cpu()
    finally:
        if started:
            on_ray.disconnect()
    show(f"{len(totals)} Ray actors", sum(totals, Counter()))
    spent = {pid: (name, seconds - cpu.get(pid, (name, 0.0))[1]) for pid, (name, seconds) in after.items()
             if pid not in before and pid != os.getpid()}
    print(f"  the Ray pass: {seconds:.2f} s wall; CPU s by process (this driver {driver:.2f}):")
    for pid, (name, used) in sorted(spent.items(), key=lambda item: -item[1][1]):
        if used >= 0.05:
            print(f"    {used:6.2f}  {pid} {name}")
    print(f"    {sum(used for _, used in spent.values()) + driver:6.2f}  in all")


if __name__ == "__main__":
    main()
