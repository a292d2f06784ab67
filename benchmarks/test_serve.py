"""`fmnist serve` under 8 concurrent keep-alive clients on 127.0.0.1 (its own process, the shipped photo model, one
worker per core), beside the CLI's own path (its default: a worker process per core) over the same photos in the
same run. Each round is one load: 8 clients
x 20 requests. extra_info holds the requests a second, the ratio to the CLI's photos a second (goal: at least 0.7)
and the p99 latency in ms (goal: at most 100); every request must be answered 200. scripts/serve_bench.py prints
the same figures, with the refusals, outside pytest."""

from __future__ import annotations

import statistics

import pytest

from scripts.serve_bench import PHOTOS, Load, cli_rate, load, serving

CLIENTS, REQUESTS = 8, 20


@pytest.fixture(scope="module")
def port():
    with serving("photo", 0) as server:
        yield server.port


def test_eight_keep_alive_clients(benchmark, port):
    from fmnist.runtime.classifier import Classifier

    photos = [p.read_bytes() for p in PHOTOS]
    loads: list[Load] = []

    def one_load() -> None:
        loads.append(load(port, photos, CLIENTS, REQUESTS))

    benchmark.group = "fmnist serve"
    benchmark.pedantic(one_load, rounds=5, warmup_rounds=1)
    timed = loads[1:] or loads  # the warm-up round aside (--benchmark-disable runs one round, no warm-up)
    cli = cli_rate(Classifier("photo", threads=1), PHOTOS, CLIENTS * REQUESTS // len(PHOTOS), 0)  # its default
    latencies = sorted(ms for x in timed for ms in x.latencies_ms)
    rate = statistics.median(x.rate for x in timed)
    benchmark.extra_info.update(clients=CLIENTS, requests=CLIENTS * REQUESTS, requests_per_s=round(rate, 1),
                                cli_photos_per_s=round(cli, 1), ratio_to_cli=round(rate / cli, 2),
                                p50_ms=round(statistics.median(latencies), 1),
                                p99_ms=round(latencies[int(0.99 * (len(latencies) - 1))], 1))
    assert all(status == 200 for x in loads for status in x.statuses)
