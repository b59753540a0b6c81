"""Recovery of events whose chain message was lost by the broker: nothing received is ever dropped.

Celery's Redis transport takes a message off the queue (``BRPOP``) and records it as unacknowledged
in a second step. A worker killed with SIGKILL, or Redis shutting down, between those two steps
loses that message; and a chain whose next message could not be published (Redis gone at that
instant) stops too. Every unfinished event is therefore in an index by its last progress
(``store.stalled_events``), and a sweep re-queues the chain of any event that made no progress for
``STALL_SECONDS``, from the stage it reached, with that stage's stored input (from ``fetch`` when
there is none). Stages are idempotent, so an event queued twice is still posted once.

Policy:

- ``STALL_SECONDS`` (default: the broker visibility timeout + the longest retry countdown + 60 s, so
  neither a killed worker's redelivery nor a waiting retry is mistaken for a loss).
- The sweep runs only while the ``pipeline`` queue is empty: an event waiting behind a backlog is
  not lost; a lost one is found as soon as the backlog drains.
- It runs inside every worker (a daemon thread started when the worker is ready, every
  ``STALL_SWEEP_INTERVAL`` seconds); a Redis lock makes one worker at a time do it, so no beat
  process is needed.

The worker must also survive Redis going away at any instant: see ``tasks.patches.guard_closed_broker_channel``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready

import celeryconfig
from tasks import chains, store
from tasks.broker import queue_depth
from tasks.settings import env_int

log = logging.getLogger(__name__)

SWEEP_LOCK = "stall-sweep"


def stall_seconds() -> int:
    default = celeryconfig.BROKER_VISIBILITY_TIMEOUT + celeryconfig.MAX_RETRY_COUNTDOWN + 60
    return env_int("STALL_SECONDS", default)


def requeue_stalled() -> list[str]:
    """Re-queue every stalled event's chain; returns their ids (nothing while the queue has a backlog)."""
    if queue_depth(store.client(), celeryconfig.task_default_queue):
        return []
    requeued = []
    for event_id in store.stalled_events(stall_seconds()):
        event = store.get_event(event_id)
        if event and event.get("state") in ("received", "processing") and event.get("flow"):
            requeue(event)
            requeued.append(event_id)
    return requeued


def requeue(event: dict[str, Any]) -> None:
    stage = _resume_stage(event)
    chains.build_chain(chains.envelope_for(event), start=stage).apply_async()
    store.update_event(event["id"], requeued_at=store.now())
    log.warning("stalled event re-queued from stage %s", stage)


def _resume_stage(event: dict[str, Any]) -> str:
    stage = str(event.get("stage") or "fetch")
    if stage == "fetch" or event.get("state") != "processing":
        return "fetch"
    exists = store.client().exists(store.key("stage", event["id"], stage))
    return stage if exists else "fetch"


def _sweep_forever(interval: int) -> None:
    stop = threading.Event()
    while not stop.wait(interval):
        try:
            _sweep_once(interval)
        except Exception:  # noqa: BLE001 - Redis away: try again next round
            log.info("stalled-event sweep skipped: Redis unavailable")


def _sweep_once(interval: int) -> None:
    lock = store.client().lock(store.key("lock", SWEEP_LOCK), timeout=max(interval * 2, 30), blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return
    try:
        requeued = requeue_stalled()
        if requeued:
            log.warning("stalled-event sweep re-queued %s event(s)", len(requeued))
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired or Redis away; it times out by itself
            log.debug("stalled-event sweep lock not released; it expires by itself", exc_info=True)


@worker_ready.connect
def start_sweeper(**_: Any) -> None:
    interval = env_int("STALL_SWEEP_INTERVAL", 60)
    if interval > 0:
        threading.Thread(target=_sweep_forever, args=(interval,), name="stall-sweeper", daemon=True).start()
