#!/usr/bin/env python3
"""Does segmentation (GrabCut) let the frame path run beside it in a thread? A 0.7 ms frame step (shrink, render
with a known mask, infer; shipped model, 1 thread) is timed 1,500 times alone, then beside a thread that
segments non-stop: on the same core and on another one, at normal priority and at nice 19.

    .venv/bin/python -m scripts.segment_thread        (Linux, two or more cores)

If GrabCut held the GIL, the frame step's p99 would grow by a segmentation (20-250 ms) beside the thread.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from fmnist.data import fashion
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.cutout import WORK_SIZE, render, segment
from fmnist.runtime.image import shrink
from scripts.scene_videos import noisy_frames, scenes


def main() -> None:
    classifier = Classifier("edge", threads=1)  # the cut-out's model
    scene, sigma = scenes(fashion.load_split("test").images[0])["garment fills the box"]
    crops = [f[96:384, 176:464] for f in noisy_frames(scene, sigma, 20)]
    mask = segment(shrink(crops[0], WORK_SIZE).small)

    def frame_step() -> None:
        classifier.predict(render(shrink(crops[0], WORK_SIZE), mask).image[None])

    def timed(n: int = 1500) -> np.ndarray:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            frame_step()
            times.append((time.perf_counter() - start) * 1000)
        return np.percentile(times, [50, 99, 100])

    def beside(worker_cores: set[int], nice: bool) -> tuple[np.ndarray, float]:
        stop, done = threading.Event(), [0]

        def worker() -> None:
            os.sched_setaffinity(threading.get_native_id(), worker_cores)
            if nice:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            while not stop.is_set():
                segment(shrink(crops[done[0] % len(crops)], WORK_SIZE).small)
                done[0] += 1

        thread = threading.Thread(target=worker)
        thread.start()
        time.sleep(0.2)
        started = time.perf_counter()
        figures = timed()
        rate = done[0] / (time.perf_counter() - started)
        stop.set()
        thread.join()
        return figures, rate

    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    p50, p99, top = timed()
    print(f"frame step alone: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms")
    cases = (("same core", {cores[0]}, False), ("same core, nice 19", {cores[0]}, True),
             ("another core", {cores[-1]}, False), ("another core, nice 19", {cores[-1]}, True))
    for name, worker_cores, nice in cases:
        (p50, p99, top), rate = beside(worker_cores, nice)
        print(f"beside a segmenting thread on {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms; "
              f"the thread segments {rate:.1f} frames/s")


if __name__ == "__main__":
    main()
