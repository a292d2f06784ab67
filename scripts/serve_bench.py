#!/usr/bin/env python3
"""`fmnist serve` under load, beside the CLI on the same photos in the same run: throughput and latency of N
concurrent keep-alive clients on 127.0.0.1, as a ratio of the CLI's own rate; then a 30 MB body, a text body and
the server's health after them.

    .venv/bin/python scripts/serve_bench.py [--clients 8] [--requests 20] [--rounds 5] [--model photo] [--threads 0]

The CLI's rate is classify's own path once the model is open (fmnist.runtime.workers.classify_all), over as many
photos as the server was sent: its default, a worker process per core (the pool's start included), which the goal
is judged against, and --threads 1 (one process); the server and the CLI take turns in --rounds rounds and each
ratio is the median of the rounds'. The whole `fmnist classify` process over the same photos is shown too. The
server runs as its own process (`fmnist serve --port 0`), as a user runs it; the clients are threads of this one,
so on a 2-core machine they share the cores with it, as a local caller would. Goals (issue 42): every request
answered, throughput at least 0.7x the CLI's, p99 at most 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FMNIST = Path(sys.executable).parent / "fmnist"
PHOTOS = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
GOAL_RATIO, GOAL_P99_MS = 0.7, 100.0


def cli_rate(classifier: object, photos: list[Path], rounds: int, workers: int = 1) -> float:
    """Photos a second through classify's own path (fmnist.runtime.workers.classify_all, as `fmnist classify` runs
    it once the model is open): `workers` 1 is one process, 0 a worker process per core (the pool's start included)."""
    from fmnist.runtime.workers import classify_all

    inputs = [str(p) for p in photos] * rounds
    started = time.perf_counter()
    done = sum(o.result is not None for o in classify_all(classifier, inputs, workers))  # type: ignore[arg-type]
    assert done == len(inputs)
    return done / (time.perf_counter() - started)


def cli_process_rate(model: str, photos: list[Path], rounds: int) -> float:
    """Photos a second of a whole `fmnist classify` process (its start included) over the photos, `rounds` times."""
    started = time.perf_counter()
    subprocess.run([str(FMNIST), "classify", *map(str, photos * rounds), "--model", model, "--json"], check=True,
                   capture_output=True)
    return len(photos) * rounds / (time.perf_counter() - started)


@dataclass(frozen=True)
class Server:
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far, all its threads (Linux: /proc/PID/stat's utime + stime)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(model: str, threads: int) -> Iterator[Server]:
    """`fmnist serve --port 0` as its own process."""
    process = subprocess.Popen([str(FMNIST), "serve", "--port", "0", "--model", model, "--threads", str(threads)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
            if found:
                break
        else:
            raise SystemExit("fmnist serve did not start")
        yield Server(int(found.group(1)), process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Load:
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.statuses) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def load(port: int, photos: list[bytes], clients: int, requests: int) -> Load:
    """`clients` threads, each on one keep-alive connection, each sending `requests` photos one after the other."""
    result = Load()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.connect()
        ready.wait()
        for i in range(requests):
            sent = time.perf_counter()
            connection.request("POST", "/classify", body=photos[(k + i) % len(photos)],
                               headers={"Content-Type": "image/jpeg"})
            response = connection.getresponse()
            response.read()
            with lock:
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def refusals(port: int) -> list[tuple[str, int]]:
    """(what was sent, the status) for a 30 MB body, a text body, and /health after them."""
    found = []
    for what, body, kind in (("30 MB body", bytes(30_000_000), "image/jpeg"), ("text", b"hello", "text/plain")):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/classify", body=body, headers={"Content-Type": kind})
        response = connection.getresponse()
        assert "error" in json.loads(response.read())
        found.append((what, response.status))
        connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/health")
    found.append(("health after", connection.getresponse().status))
    connection.close()
    return found


@dataclass
class Turns:
    """Each round's figures: the server's load and the CLI's rates, taken in turn so that a busy spell of the
    machine hits them alike."""

    loads: list[Load] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)  # the server's CPU seconds per second of each load
    cli_1: list[float] = field(default_factory=list)  # classify --threads 1: one process
    cli_all: list[float] = field(default_factory=list)  # --threads 0, its default: a worker process per core

    def pooled(self) -> Load:
        return Load(sum(x.seconds for x in self.loads), [ms for x in self.loads for ms in x.latencies_ms],
                    [s for x in self.loads for s in x.statuses])

    def ratio(self, cli: list[float]) -> float:
        """The median over rounds of the server's rate over the CLI's."""
        return statistics.median(x.rate / c for x, c in zip(self.loads, cli, strict=True))


def take_turns(server: Server, model: str, clients: int, requests: int, rounds: int) -> Turns:
    from fmnist.runtime.classifier import Classifier

    photos = [p.read_bytes() for p in PHOTOS]
    classifier = Classifier(model, threads=1)  # as classify opens it
    load(server.port, photos, 2, 5)  # warm-up, unmeasured
    turns = Turns()
    for _ in range(rounds):
        cpu = server.cpu_seconds()
        turns.loads.append(load(server.port, photos, clients, requests))
        turns.cores.append((server.cpu_seconds() - cpu) / turns.loads[-1].seconds)
        same = max(1, clients * requests // len(PHOTOS))  # as many photos as the server was sent
        turns.cli_1.append(cli_rate(classifier, PHOTOS, same, 1))
        turns.cli_all.append(cli_rate(classifier, PHOTOS, same, 0))
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="per client and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds in which the server and the CLI take turns")
    parser.add_argument("--model", default="photo")
    parser.add_argument("--threads", type=int, default=0, help="fmnist serve --threads (0: one worker per core)")
    args = parser.parse_args()
    with serving(args.model, args.threads) as server:
        turns = take_turns(server, args.model, args.clients, args.requests, args.rounds)
        checks = refusals(server.port)
    process = cli_process_rate(args.model, PHOTOS, max(1, args.clients * args.requests // len(PHOTOS)))
    served = turns.pooled()
    total, answered = len(served.statuses), served.statuses.count(200)
    ratio, p99 = turns.ratio(turns.cli_all), served.percentile(99)
    print(f"cli, classify's path once the model is open (median of {args.rounds} rounds): --threads 1 (one process) "
          f"{statistics.median(turns.cli_1):.1f} photos/s, --threads 0 (its default: a process per core) "
          f"{statistics.median(turns.cli_all):.1f} photos/s; a whole fmnist classify process: {process:.1f} photos/s")
    print(f"serve, {args.clients} keep-alive clients x {args.requests} requests x {args.rounds} rounds: {answered} of "
          f"{total} answered 200, {statistics.median(x.rate for x in turns.loads):.1f} requests/s = {ratio:.2f}x the "
          f"CLI's default, {turns.ratio(turns.cli_1):.2f}x its one process, median of the rounds' ratios; latency "
          f"p50 {statistics.median(served.latencies_ms):.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(served.latencies_ms):.1f} ms; the server busy on {statistics.median(turns.cores):.2f} cores "
          f"of {os.cpu_count()}")
    print("refusals: " + ", ".join(f"{what} {status}" for what, status in checks))
    met = answered == total and ratio >= GOAL_RATIO and p99 <= GOAL_P99_MS and [s for _, s in checks] == [413, 415, 200]
    print(f"goals (all answered, >= {GOAL_RATIO}x the CLI's default, p99 <= {GOAL_P99_MS:.0f} ms, 413/415 then "
          f"healthy): "
          f"{'met' if met else 'NOT met'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
