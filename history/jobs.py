"""The history's part in the Celery processes (imported through ``celeryconfig.imports``).

- Worker: migrates the database and starts the drainer thread once the worker is ready; at shutdown
  the thread drains once more. ``HISTORY_DRAIN_INTERVAL`` (seconds, default 1) sets its pace.
- Beat: migrates at start, and runs ``history.prune`` daily (``HISTORY_RETENTION_DAYS``).

It uses Celery's ``shared_task`` and signals, so it imports nothing of the pipeline (``tasks``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import shared_task
from celery.signals import beat_init, worker_ready, worker_shutdown

from history import db, drainer, retention

log = logging.getLogger(__name__)
_threads: list[drainer.DrainerThread] = []


def drain_interval() -> float:
    try:
        return max(0.05, float(os.environ.get("HISTORY_DRAIN_INTERVAL") or 1.0))
    except ValueError:
        return 1.0


@worker_ready.connect
def start_drainer(**_: Any) -> None:
    db.migrate_quietly()
    if not _threads:
        _threads.append(drainer.start(drain_interval()))
        log.info("history drainer started (%s)", db.engine().url.render_as_string(hide_password=True))


@worker_shutdown.connect
def stop_drainer(**_: Any) -> None:
    while _threads:
        _threads.pop().stop(final_drain=True)


@beat_init.connect
def migrate_for_beat(**_: Any) -> None:
    db.migrate_quietly()


@shared_task(name="history.prune", ignore_result=True)
def prune() -> dict[str, int]:
    """Delete history older than ``HISTORY_RETENTION_DAYS``."""
    removed = retention.prune()
    log.info("history pruned: %d events older than %d days", removed, retention.retention_days())
    return {"events_removed": removed}
