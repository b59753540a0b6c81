"""The dead-letter queue: one Redis record per event that could not be posted.

A record holds what an operator or accountant needs to act and to replay: the event, its flow, the
stage that failed and that stage's input, the error class, reason code and message, the number of
attempts and the first and last failure times. It never holds secrets: stage inputs carry Stripe and
Epicor data, not credentials. Records live in one hash (``sec:dlq``) with an index sorted by first
failure (``sec:dlq:index``), both persisted by Redis's AOF.
"""

from __future__ import annotations

import json
from typing import Any

from tasks import store

DLQ_KEY = store.key("dlq")
INDEX_KEY = store.key("dlq", "index")


def dead_letter(*, event: dict[str, Any], stage: str, stage_input: Any, error: dict[str, Any],
                attempts: int) -> dict[str, Any]:
    """Write (or refresh) the record of one failed event; returns it."""
    event_id = event["id"]
    previous = get(event_id)
    at = store.now()
    record = {
        "id": event_id, "event_type": event.get("type"), "source": event.get("source", "stripe"),
        "object_id": event.get("object_id"), "flow": event.get("flow"), "stage": stage,
        "stage_input": stage_input, **error, "attempts": attempts,
        "first_failed_at": previous["first_failed_at"] if previous else at, "last_failed_at": at,
        "failures": (previous or {}).get("failures", 0) + 1,
    }
    pipe = store.client().pipeline()
    pipe.hset(DLQ_KEY, event_id, json.dumps(record))
    pipe.zadd(INDEX_KEY, {event_id: record["first_failed_at"]}, nx=True)
    pipe.execute()
    return record


def get(event_id: str) -> dict[str, Any] | None:
    raw = store.client().hget(DLQ_KEY, event_id)
    return json.loads(raw) if raw else None


def list_records(limit: int = 1000) -> list[dict[str, Any]]:
    ids = store.client().zrange(INDEX_KEY, 0, limit - 1)
    raws = store.client().hmget(DLQ_KEY, ids) if ids else []
    return [json.loads(raw) for raw in raws if raw]


def depth() -> int:
    return int(store.client().hlen(DLQ_KEY))


def remove(event_id: str) -> bool:
    pipe = store.client().pipeline()
    pipe.hdel(DLQ_KEY, event_id)
    pipe.zrem(INDEX_KEY, event_id)
    return bool(pipe.execute()[0])
