"""The enqueue API: the only part of ``tasks`` the web receiver imports (STYLE.md point 1).

``receive`` records an event (deduplicated on its id) and queues its chain; it returns only once the
chain is durably in the broker (or, for a second event of a payment whose first event is in flight,
durably recorded in Redis as queued behind it: ``tasks.followers``), or raises ``QueueUnavailable``
so the receiver answers 503 and the sender redelivers. A redelivery of an event whose earlier
enqueue failed is queued again: stages are idempotent, so a chain queued twice never posts twice.
Receiving costs two Redis round trips: one script records, deduplicates, groups and marks the event
queued; then its chain is published.
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


# Flows whose events of one payment run one after the other (``tasks.followers``), keyed on the
# payment the event's payload names (``payment_hint``).
COALESCING_FLOWS = frozenset({"order_to_cash"})


def payment_hint(obj: dict[str, Any]) -> str | None:
    """The payment a Stripe object of a payment event belongs to, as its payload says: the
    PaymentIntent id, or the charge id for a charge made without one. Only groups events; the
    pipeline re-reads Stripe to decide what a payment is."""
    kind = obj.get("object")
    intent = obj.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if kind == "payment_intent":
        intent_id = obj.get("id")
    elif kind == "charge":
        intent_id = intent_id or obj.get("id")
    elif kind != "checkout.session":
        return None
    return intent_id if isinstance(intent_id, str) and 0 < len(intent_id) <= 255 else None


def _receive(event: dict[str, Any]) -> Receipt:
    flow = event["flow"]
    if not flow:
        store.record_event(event, ignore=True)
        return Receipt(event["id"], "ignored")
    payment = event.get("payment")
    group = f"{flow}:{payment}" if payment and flow in COALESCING_FLOWS else None
    recorded = store.record_event(event, group=group)
    if not recorded.new:
        if recorded.queued_at:
            return Receipt(event["id"], "duplicate")
        _publish(event)  # its earlier enqueue failed
        store.update_event(event["id"], queued_at=store.now())
        return Receipt(event["id"], "queued")
    if not recorded.waiting_for:
        _publish(event)
    return Receipt(event["id"], "queued")


def _publish(event: dict[str, Any]) -> None:
    """Queue an event's chain; if the broker refuses, the event is no longer marked queued, so that
    its redelivery queues it."""
    try:
        build_chain(envelope_for(event)).apply_async()
    except Exception:
        try:
            store.mark_unqueued(event["id"])
        except _BROKER_ERRORS:
            pass  # Redis is away too: the stall sweep queues the recorded event
        raise


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
