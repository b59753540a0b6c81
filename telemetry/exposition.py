"""One scrape: every process's figures plus what Redis holds now.

``exposition()`` is what ``GET /metrics`` (and ``python -m telemetry.serve``) answers. It merges the
files of every process in ``PROMETHEUS_MULTIPROC_DIR`` (``telemetry.processes``), and adds gauges read
from Redis at scrape time, because they describe shared state no single process owns: dead letters
waiting, messages waiting in each queue, events not finished and how long the stalest one has made no
progress. Redis is read in one pipelined round trip; when it does not answer, ``stripe_epicor_redis_up``
is 0 and those gauges are left out, so a scrape never fails because Redis is away (an alert says so).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from telemetry import processes

log = logging.getLogger(__name__)
PREFIX = "stripe_epicor_"
DLQ_INDEX_KEY = "sec:dlq:index"  # tasks.dlq.INDEX_KEY
INFLIGHT_KEY = "sec:inflight"  # tasks.store.INFLIGHT_KEY: unfinished events scored by their last progress


class ProcessFiles(Collector):
    """prometheus_client's multiprocess merge, tolerant of a file removed between listing and reading
    (a launcher tidying up, a live gauge retired): the scrape lists the files again."""

    def __init__(self, path: str):
        self.path = path

    def collect(self) -> Iterable[Metric]:
        for _ in range(3):
            files = glob.glob(os.path.join(self.path, "*.db"))
            try:
                return list(MultiProcessCollector.merge(files, accumulate=True))
            except FileNotFoundError:
                continue
        log.warning("metrics files kept changing during the scrape; answered without them")
        return []


class ThisProcess(Collector):
    """The default registry (single-process mode: this process's figures only)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class RedisState(Collector):
    """Gauges of shared state, read from Redis at scrape time."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(PREFIX + "redis_up", "1 when Redis answered this scrape.")
        try:
            figures = read_redis_state()
        except Exception as exc:  # noqa: BLE001 - any Redis failure: say so, serve the rest
            log.info("Redis not readable for metrics: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from redis_families(figures)


def read_redis_state() -> dict[str, Any]:
    """{"queues": {name: depth}, "dead_letters": n, "unfinished": n, "oldest_progress": Unix time | None}."""
    import celeryconfig
    from tasks import store
    from tasks.broker import queue_depth

    client = store.client()
    queues = {queue.name: queue_depth(client, queue.name) for queue in celeryconfig.task_queues}
    pipe = client.pipeline(transaction=False)
    pipe.zcard(DLQ_INDEX_KEY)
    pipe.zcard(INFLIGHT_KEY)
    pipe.zrange(INFLIGHT_KEY, 0, 0, withscores=True)
    dead, unfinished, oldest = pipe.execute()
    return {"queues": queues, "dead_letters": int(dead), "unfinished": int(unfinished),
            "oldest_progress": float(oldest[0][1]) if oldest else None}


def redis_families(figures: dict[str, Any], now: float | None = None) -> Iterator[Metric]:
    depth = GaugeMetricFamily(PREFIX + "queue_depth", "Messages waiting in a Celery queue (every priority).",
                              labels=["queue"])
    for name, waiting in sorted(figures["queues"].items()):
        depth.add_metric([name], waiting)
    yield depth
    yield GaugeMetricFamily(PREFIX + "dead_letters", "Dead-letter records waiting for an operator.",
                            value=figures["dead_letters"])
    yield GaugeMetricFamily(PREFIX + "unfinished_events", "Events received and not finished yet.",
                            value=figures["unfinished"])
    oldest = figures["oldest_progress"]
    idle = max((now or time.time()) - oldest, 0.0) if oldest is not None else 0.0
    yield GaugeMetricFamily(PREFIX + "unfinished_oldest_idle_seconds",
                            "Seconds since the unfinished event that progressed least recently last progressed "
                            "(0 when none is unfinished).", value=idle)


@cache
def registry() -> CollectorRegistry:
    """This process's scrape registry, built once: files of every process (or this process alone)
    plus Redis-held gauges."""
    built = CollectorRegistry(auto_describe=False)
    path = processes.directory()
    if path and os.path.isdir(path):
        built.register(ProcessFiles(path))
    else:
        built.register(ThisProcess())
    built.register(RedisState())
    return built


def exposition() -> tuple[bytes, str]:
    """The text of one scrape and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST
