"""The history's part in the Celery processes (imported through ``celeryconfig.imports``).

- Worker: migrates the database, records mapping files changed on disk since the last start
  (``history.mapping_files``) and starts the drainer once the worker is ready, as a process of its
  own by default (``history.follower``, ``HISTORY_DRAINER``); at shutdown it drains once more.
  ``HISTORY_DRAIN_INTERVAL`` (seconds, default 1) sets its pace.
- Beat: migrates at start, and runs ``history.prune`` daily (``HISTORY_RETENTION_DAYS``).

It uses Celery's ``shared_task`` and signals, so it imports no flow or stage; only the mapping-file
note reads ``tasks.settings`` and ``tasks.store`` (for the mappings directory and Redis), lazily.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import shared_task
from celery.signals import beat_init, worker_ready, worker_shutdown

from history import db, drainer, follower, mapping_files, retention

log = logging.getLogger(__name__)
_threads: list[drainer.DrainerThread] = []
_children: list[Any] = []


def drain_interval() -> float:
    try:
        return max(0.05, float(os.environ.get("HISTORY_DRAIN_INTERVAL") or 1.0))
    except ValueError:
        return 1.0


@worker_ready.connect
def start_drainer(**_: Any) -> None:
    db.migrate_quietly()
    _note_mapping_files()
    how = follower.mode()
    if how == "process" and not _children:
        _children.append(follower.start_process(drain_interval()))
    elif how == "thread" and not _threads:
        _threads.append(drainer.start(drain_interval()))
    if how != "off":
        log.info("history drainer started as a %s (%s)", how, db.engine().url.render_as_string(hide_password=True))


def _note_mapping_files() -> None:
    from tasks import store
    from tasks.settings import get_settings

    mapping_files.note_changes(get_settings().mappings_dir, store.client())


@worker_shutdown.connect
def stop_drainer(**_: Any) -> None:
    while _threads:
        _threads.pop().stop(final_drain=True)
    while _children:
        follower.stop_process(_children.pop())


@beat_init.connect
def migrate_for_beat(**_: Any) -> None:
    db.migrate_quietly()


@shared_task(name="history.prune", ignore_result=True)
def prune() -> dict[str, int]:
    """Delete history older than ``HISTORY_RETENTION_DAYS``."""
    removed = retention.prune()
    log.info("history pruned: %d events older than %d days", removed, retention.retention_days())
    return {"events_removed": removed}
