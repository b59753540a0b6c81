"""Pipeline side of the history: cheap, never raising, one JSON record per fact in a Redis stream.

Records go to the stream ``sec:history`` as one field ``r`` (JSON with ``kind``, a record id ``rid``
and the kind's fields); ``history.drainer`` moves them to the database. Kinds: ``event`` (a state
change: id, type, flow, source, state, stage, attempt, at, error, refs, amount, currency,
epicor_keys), ``document``, ``writeback``, ``operator_action``, ``mapping_change``.

The hot paths (``tasks.store``) do not call ``record``: they add the entry built by ``entry`` to the
pipeline or Lua script they already send, so the history costs them no extra round trip. ``record``
is for rarer facts (a write-back, an operator's action): one XADD. It never raises: the history is a
record of the work, never a reason for the work to fail.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

STREAM = "sec:history"
KINDS = frozenset({"event", "document", "writeback", "operator_action", "mapping_change"})
# The event a worker thread is working on: write-backs and documents recorded deep in a flow name it.
current_event: contextvars.ContextVar[str | None] = contextvars.ContextVar("history_event", default=None)
# Facts about that event learned deep inside a stage (the mapping versions its documents are built with):
# the stage's own closing round trip writes them to the event's record and history (``tasks.base``), so
# they cost no round trip of their own.
_noted: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("history_noted", default=None)


def ordered_id() -> str:
    """A unique record id that sorts in the order the records were made (nanoseconds, then random):
    two state changes of one event within the same millisecond still keep their order in its timeline."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"


def entry(kind: str, **fields: Any) -> str:
    """The stream entry's JSON for one record (``rid`` and ``at`` added when missing)."""
    fields.setdefault("at", round(time.time(), 3))
    if kind != "event" and not fields.get("event_id") and current_event.get():
        fields["event_id"] = current_event.get()
    return json.dumps({"kind": kind, "rid": fields.pop("rid", None) or ordered_id(), **fields},
                      default=str, separators=(",", ":"))


def record(kind: str, **fields: Any) -> bool:
    """Append one record to the stream; False (and a log line) when it could not be written."""
    try:
        from tasks import store

        store.client().xadd(STREAM, {"r": entry(kind, **fields)})
    except Exception as exc:  # noqa: BLE001 - history must never break the caller
        log.warning("history record %s not written: %s", kind, type(exc).__name__)
        return False
    return True


def add_to(pipe: Any, payload: str) -> None:
    """Queue the XADD of an entry built by ``entry`` on a redis-py pipeline the caller executes."""
    pipe.xadd(STREAM, {"r": payload})


@contextmanager
def working_on(event_id: str) -> Iterator[None]:
    """Records made inside (write-backs, documents) belong to ``event_id``; facts ``note``d inside are
    kept for the caller to write (``noted``)."""
    token, facts = current_event.set(event_id), _noted.set({})
    try:
        yield
    finally:
        _noted.reset(facts)
        current_event.reset(token)


def note(**facts: Any) -> None:
    """Remember facts about the event being worked on (nothing outside ``working_on``)."""
    found = _noted.get()
    if found is not None:
        found.update(facts)


def noted() -> dict[str, Any]:
    """The facts ``note``d so far inside the current ``working_on``."""
    return dict(_noted.get() or {})


# Fields of an event update that the history keeps; other updates (queued_at, requeued_at …) are
# the pipeline's bookkeeping and make no record.
_STATE_FIELDS = ("state", "stage", "last_error", "epicor_keys", "finished_at", "reason", "discarded_by")


def event_update_entry(event_id: str, fields: dict[str, Any]) -> str | None:
    """The entry for ``store.update_event(event_id, **fields)``, or None when nothing worth keeping changed."""
    if not any(name in fields for name in _STATE_FIELDS):
        return None
    error = fields.get("last_error")
    record_fields: dict[str, Any] = {"id": event_id, "at": fields.get("updated_at") or round(time.time(), 3)}
    for name in ("state", "stage", "epicor_keys", "reason", "mapping_version"):
        if fields.get(name) is not None:
            record_fields[name] = fields[name]
    if isinstance(error, dict):
        record_fields["error"] = {"reason": error.get("reason"), "message": error.get("message")}
    return entry("event", **record_fields)
