"""The ceiling the pipeline is measured against: a five-task chain of no-op tasks.

Its own tiny Celery app with the project's ``celeryconfig`` (same broker, pool, concurrency,
acknowledgement, prefetch and event settings), on a queue of its own so it can never take the
pipeline's messages. It runs stock Celery and kombu: it loads none of the product's modules. Each
task only hands the envelope on; the last one notes when the chain finished, which is the one Redis
write a benchmark needs to measure it (the real pipeline writes its own ``finished_at``).

Worker: ``celery -A bench.bare_chain worker --pool threads --concurrency N -Q bench-bare``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from celery import Celery, chain
from celery.canvas import Signature

import celeryconfig

QUEUE = "bench-bare"
DONE_KEY = "bench:bare:done"

app = Celery("bench_bare")
app.config_from_object("celeryconfig")
app.conf.task_default_queue = QUEUE
# Stock Celery: none of the product's task modules (celeryconfig's ``imports`` would load them, and
# with them the product's changes to kombu in tasks/broker.py) and no beat schedule.
app.conf.imports = ()
app.conf.beat_schedule = {}

_client_lock = threading.Lock()
_clients: list[redis.Redis] = []


def _redis() -> redis.Redis:
    with _client_lock:
        if not _clients:
            _clients.append(redis.Redis.from_url(celeryconfig.broker_url, decode_responses=True))
        return _clients[0]


@app.task(name="bare.stage", ignore_result=True)
def stage(envelope: dict[str, Any]) -> dict[str, Any]:
    return envelope


@app.task(name="bare.done", ignore_result=True)
def done(envelope: dict[str, Any]) -> dict[str, Any]:
    _redis().hset(DONE_KEY, envelope["event_id"], repr(time.time()))
    return envelope


def bare_chain(envelope: dict[str, Any]) -> Signature:
    """Five tasks, like ``tasks.chains.build_chain``: four hand-ons and one that records the finish."""
    return chain(stage.s(envelope), stage.s(), stage.s(), stage.s(), done.s())
