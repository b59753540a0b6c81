"""The enqueue API: the only part of ``tasks`` the web receiver imports (STYLE.md point 1).

``receive`` records an event (deduplicated on its id) and queues its chain; it returns only once the
chain is durably in the broker, or raises ``QueueUnavailable`` so the receiver answers 503 and the
sender redelivers. A redelivery of an event whose earlier enqueue failed is queued again: stages are
idempotent, so a chain queued twice never posts twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import kombu.exceptions
import redis

from tasks import store
from tasks.chains import build_chain, envelope_for
from tasks.flows import flow_for

log = logging.getLogger(__name__)


class QueueUnavailable(RuntimeError):
    """Redis or the broker cannot take the event right now."""


@dataclass(frozen=True)
class Receipt:
    event_id: str
    status: str  # "queued", "duplicate" or "ignored"


_BROKER_ERRORS = (redis.exceptions.RedisError, kombu.exceptions.OperationalError, ConnectionError, OSError)


def receive(event: dict[str, Any]) -> Receipt:
    """Record and queue one verified event: {id, source, type, object_id, …small fields}."""
    flow = flow_for(event["type"], event.get("source") or "stripe")
    try:
        return _receive(event | {"flow": flow})
    except _BROKER_ERRORS as exc:
        log.warning("queue unavailable: %s", type(exc).__name__)
        raise QueueUnavailable(str(exc)) from None


def _receive(event: dict[str, Any]) -> Receipt:
    is_new = store.record_event(event)
    if not event["flow"]:
        if is_new:
            store.update_event(event["id"], state="ignored", reason="no flow for this event type")
        return Receipt(event["id"], "ignored")
    if not is_new and (store.get_event(event["id"]) or {}).get("queued_at"):
        return Receipt(event["id"], "duplicate")
    build_chain(envelope_for(event)).apply_async()
    store.update_event(event["id"], queued_at=store.now())
    return Receipt(event["id"], "queued")


def event_status(event_id: str) -> dict[str, Any] | None:
    try:
        return store.get_event(event_id)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


def ping() -> bool:
    try:
        return bool(store.client().ping())
    except _BROKER_ERRORS:
        return False


def payout_report(payout_id: str) -> dict[str, Any] | None:
    """The stored reconciliation report of a payout (``GET /api/payouts/<id>``), or None."""
    from tasks.flows.payouts import load_report

    try:
        return load_report(payout_id)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


def payout_report_csv(payout_id: str) -> str | None:
    """The same report as CSV (``GET /api/payouts/<id>.csv``), or None."""
    from tasks.mapping.payouts import report_csv

    report = payout_report(payout_id)
    return report_csv(report) if report else None
