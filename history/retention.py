"""Retention: history older than ``HISTORY_RETENTION_DAYS`` (400 by default) is deleted, daily by beat.

Events go with their timeline, refs, documents and write-backs, in chunks (one short transaction
each, so the drainer and the console never wait long); rollups, operator actions and mapping
changes older than the cut-off go too.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import delete, select

from history import db
from history.models import (
    DayAmount,
    Document,
    Event,
    HourErrors,
    LatencyBucket,
    MappingChange,
    MinuteCount,
    OperatorAction,
    Ref,
    Transition,
    Writeback,
)

DEFAULT_DAYS = 400
CHUNK = 2000


def retention_days() -> int:
    raw = (os.environ.get("HISTORY_RETENTION_DAYS") or "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_DAYS
    except ValueError:
        return DEFAULT_DAYS


def prune(days: int | None = None, now: float | None = None, url: str | None = None) -> int:
    """Delete what is older than ``days``; returns how many events went."""
    cutoff = (now or time.time()) - 86400 * (days or retention_days())
    made = db.engine(url)
    removed = 0
    while True:
        with made.begin() as connection:
            ids = list(connection.execute(select(Event.id).where(Event.received_at < cutoff).limit(CHUNK)).scalars())
            if not ids:
                break
            for model in (Transition, Ref, Document, Writeback):
                connection.execute(delete(model).where(model.event_id.in_(ids)))
            connection.execute(delete(Event).where(Event.id.in_(ids)))
            removed += len(ids)
    with made.begin() as connection:
        connection.execute(delete(MinuteCount).where(MinuteCount.minute < cutoff))
        connection.execute(delete(LatencyBucket).where(LatencyBucket.hour < cutoff))
        connection.execute(delete(DayAmount).where(DayAmount.day < cutoff))
        connection.execute(delete(HourErrors).where(HourErrors.hour < cutoff))
        connection.execute(delete(OperatorAction).where(OperatorAction.at < cutoff))
        connection.execute(delete(MappingChange).where(MappingChange.at < cutoff))
    return removed
