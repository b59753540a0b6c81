"""Every metric the service's processes update, and the functions the pipeline calls to update them.

Naming follows Prometheus's conventions: prefix ``stripe_epicor_``, base units (seconds), ``_total``
on counters. Label values are always bounded: event types, flows, stages, reason codes and services
come from the code or from signed Stripe payloads and are checked against a pattern (anything else
becomes ``other``); ids, e-mails and amounts are never label values.

Integration pairs (``tasks.pairs``): every pipeline metric carries ``pair``, the name of the pair whose
event, Epicor company or Stripe account it describes (``default`` for the environment's pair, and for a
single-pair deployment always). Pair names are declared in ``PAIRS_FILE`` (at most 32 characters), so the
label adds one series per pair, never per event. The callers pass ``tasks.pairs.current``: this module
imports nothing of ``tasks``.

Money: ``stripe_epicor_posted_amount_total`` counts in the currency's major unit (37.5 for USD 37.50),
as a float. Minor units would be exact, but Stripe's minor unit differs from the currency's own
(ISK, HUF, UGX carry two implied decimals at Stripe), so a dashboard would need a per-currency scale
to show figures an accountant recognises. Float64 holds every amount of a realistic ledger to a
fraction of a cent, and the figures here are for trends and alerts: the exact amounts are in the
history store and in Epicor.

Cost: each update is a dictionary look-up and one write to a memory-mapped file, a few microseconds;
nothing here does I/O that can block or fail. Every public function swallows its own errors: a
metric must never break the call it describes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import Any, ParamSpec

from prometheus_client import Counter, Gauge, Histogram

from telemetry import processes

log = logging.getLogger(__name__)
P = ParamSpec("P")
PREFIX = "stripe_epicor_"
MULTIPROCESS = processes.install_identifier()

_SAFE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
EVENT_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

EVENTS_RECEIVED = Counter(
    PREFIX + "events_received", "Webhook deliveries answered by the receiver, by what became of them "
    "(queued, duplicate, ignored, rejected with a reason), by integration pair (empty for a rejected delivery).",
    ("source", "type", "outcome", "reason", "pair"))
EVENTS_FINISHED = Counter(
    PREFIX + "events_finished", "Events that reached a final state (done, dead, ignored), by integration pair.",
    ("flow", "state", "pair"))
EVENT_DURATION = Histogram(
    PREFIX + "event_duration_seconds", "From receipt of an event to its final state, by integration pair.",
    ("flow", "state", "pair"), buckets=EVENT_BUCKETS)
STAGE_DURATION = Histogram(
    PREFIX + "stage_duration_seconds", "Run time of one pipeline stage attempt, by integration pair.",
    ("flow", "stage", "outcome", "pair"), buckets=STAGE_BUCKETS)
STAGE_RETRIES = Counter(
    PREFIX + "stage_retries", "Stage attempts that failed and were scheduled again, by integration pair.",
    ("flow", "stage", "reason", "pair"))
DEAD_LETTERED = Counter(
    PREFIX + "dead_lettered", "Events written to the dead-letter queue, by integration pair.",
    ("flow", "stage", "reason", "pair"))
API_REQUESTS = Counter(
    PREFIX + "api_requests", "HTTP requests to Epicor and Stripe, by outcome (status class or error) and by "
    "integration pair (whose Epicor company or Stripe account was called).",
    ("system", "resource", "method", "outcome", "pair"))
API_DURATION = Histogram(
    PREFIX + "api_request_duration_seconds", "Duration of one HTTP request to Epicor or Stripe, by integration "
    "pair.", ("system", "resource", "method", "pair"), buckets=CALL_BUCKETS)
POSTED_AMOUNT = Counter(
    PREFIX + "posted_amount", "Money posted to Epicor, in the currency's major unit, by flow (a refund "
    "counts the money paid back) and integration pair.", ("flow", "currency", "pair"))
# The deployment's limit is one figure per integration pair (each Epicor company has its own) shared through
# Redis (tasks.budget): each worker sets it whenever it learns it (every lease renewal), so the most recent
# value of a live worker is the current one.
EPICOR_CONCURRENCY = Gauge(
    PREFIX + "epicor_concurrency_limit", "Epicor calls allowed in flight in the whole deployment now, by "
    "integration pair: EPICOR_MAX_CONCURRENCY, lowered by the adaptive back-off while that pair's Epicor is "
    "overloaded.", ("pair",), multiprocess_mode="livemostrecent")
EPICOR_CONCURRENCY_MAX = Gauge(
    PREFIX + "epicor_concurrency_max", "EPICOR_MAX_CONCURRENCY as the worker processes are configured: the "
    "deployment-wide ceiling the adaptive limit climbs back to.", multiprocess_mode="livemax")
WORKER_HEARTBEAT = Gauge(
    PREFIX + "worker_heartbeat_timestamp_seconds", "Unix time of the latest heartbeat of any Celery worker.",
    multiprocess_mode="max")


def label(value: Any, default: str = "other") -> str:
    """A label value from code or payload: kept when it is a short identifier, else ``default``."""
    return _checked(value if isinstance(value, str) else "" if value is None else str(value), default)


@lru_cache(maxsize=4096)  # the same few hundred values every time: check each once
def _checked(text: str, default: str) -> str:
    return text if _SAFE.match(text) else default


def quietly(func: Callable[P, None]) -> Callable[P, None]:
    """Run ``func``; log (never raise) if it fails."""
    @wraps(func)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a metric never breaks what it measures
            log.debug("metric update failed", exc_info=True)
    return guarded


# -- the receiver ---------------------------------------------------------------------------------
@quietly
def event_received(source: str, event_type: str, outcome: str, pair: str = "default") -> None:
    """A verified event was answered 200: ``outcome`` is queued, duplicate or ignored; ``pair`` is its
    integration pair (a declared name: ``tasks.pairs``)."""
    EVENTS_RECEIVED.labels(label(source), label(event_type), label(outcome), "", label(pair)).inc()


@quietly
def event_rejected(path: str, status: int, reason: str) -> None:
    """A delivery was refused (4xx) or could not be queued (503)."""
    source = "epicor" if path.startswith("/webhooks/epicor") else "stripe"
    EVENTS_RECEIVED.labels(source, "", "rejected", rejection_reason(status, reason), "").inc()


def rejection_reason(status: int, reason: str) -> str:
    if status == 400:
        return "signature" if "signature" in reason.lower() else "malformed"
    return {413: "too_large", 415: "content_type", 503: "queue_unavailable"}.get(status, f"http_{int(status)}")


# -- the pipeline ---------------------------------------------------------------------------------
@quietly
def stage_ran(flow: str, stage: str, outcome: str, seconds: float, pair: str = "default") -> None:
    """One stage attempt ended: ``outcome`` is ok, retry, dead, skipped or posted_before."""
    STAGE_DURATION.labels(label(flow), label(stage), label(outcome), label(pair)).observe(max(seconds, 0.0))


@quietly
def stage_retried(flow: str, stage: str, reason: str, pair: str = "default") -> None:
    STAGE_RETRIES.labels(label(flow), label(stage), label(reason), label(pair)).inc()


@quietly
def dead_lettered(flow: str, stage: str, reason: str, pair: str = "default") -> None:
    DEAD_LETTERED.labels(label(flow), label(stage), label(reason), label(pair)).inc()


@quietly
def event_finished(flow: str, state: str, received_at: Any, finished_at: float | None = None,
                   pair: str = "default") -> None:
    """An event reached ``state``; ``received_at`` is its record's receipt time (Unix seconds)."""
    EVENTS_FINISHED.labels(label(flow), label(state), label(pair)).inc()
    try:
        started = float(received_at)
    except (TypeError, ValueError):
        return
    EVENT_DURATION.labels(label(flow), label(state), label(pair)).observe(
        max((finished_at or time.time()) - started, 0.0))


@quietly
def amounts_posted(flow: str, amounts: Iterable[tuple[str, Any]], pair: str = "default") -> None:
    """Money that reached ``pair``'s Epicor company: (currency, decimal amount) pairs; a credit (negative)
    counts its size."""
    for currency, amount in amounts:
        value = _decimal(amount)
        if value is not None and _CURRENCY.match(str(currency)):
            POSTED_AMOUNT.labels(label(flow), str(currency).upper(), label(pair)).inc(float(abs(value)))


def _decimal(amount: Any) -> Decimal | None:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def documents_posted(stage_input: Any) -> list[tuple[str, Any]]:
    """The (currency, amount) of the documents a ``post`` stage was given: a payment's ``documents``
    or each of its ``refunds`` (the shapes of the flows that move money). Others give nothing."""
    if not isinstance(stage_input, dict):
        return []
    documents = stage_input.get("documents")
    found = [documents] if isinstance(documents, dict) else []
    if isinstance(documents, list):  # the one document shape (tasks.documents): the cash its receipt posts
        receipts = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "cash_receipt"]
        found += [{"currency": doc.get("currency"), "amount": (doc.get("header") or {}).get("DocTranAmt")}
                  for doc in receipts]
    refunds = stage_input.get("refunds")
    found += [doc for doc in refunds if isinstance(doc, dict)] if isinstance(refunds, list) else []
    return [(doc["currency"], doc["amount"]) for doc in found if "currency" in doc and "amount" in doc]


# -- Epicor and Stripe ----------------------------------------------------------------------------
_STRIPE_RESOURCES = frozenset({
    "charges", "payment_intents", "customers", "checkout", "sessions", "line_items", "products", "prices",
    "invoices", "invoiceitems", "invoice_items", "invoice_payments", "lines", "finalize", "send", "refunds",
    "disputes", "subscriptions", "payouts", "balance_transactions", "events", "search"})
_EPICOR_SERVICE = re.compile(r"^(Erp|Ice)\.[A-Za-z]+\.[A-Za-z]+$")


@lru_cache(maxsize=2048)  # paths repeat (look-ups by filter); one with an id is parsed once and falls out
def resource_of(system: str, path: str) -> str:
    """A bounded name for what a request addresses: Epicor's service (``Erp.BO.SalesOrderSvc``) or
    Stripe's resource path without ids (``invoices/lines``)."""
    segments = [segment for segment in path.split("?", 1)[0].split("/") if segment]
    if system == "epicor":
        return next((segment for segment in segments if _EPICOR_SERVICE.match(segment)), "other")
    named = [segment for segment in segments[1:] if segment in _STRIPE_RESOURCES]
    return "/".join(named[:3]) or "other"


def status_outcome(status: int) -> str:
    """A status class, except the answers a connector expects in normal work and alerts must tell
    apart: 404 (a look-up that finds nothing), 409 (a create that already exists), 429 (slow down)."""
    return str(status) if status in (404, 409, 429) else f"{status // 100}xx"


@quietly
def api_request(system: str, method: str, path: str, outcome: str, seconds: float, pair: str = "default") -> None:
    """One HTTP request to ``system`` ("epicor" or "stripe") of integration pair ``pair`` ended with
    ``outcome``: a status class (``2xx``, ``4xx``, ``5xx``; ``404``, ``409``, ``429`` apart) or an error
    (``timeout``, ``connection``, ``error``)."""
    resource = resource_of(system, path)
    verb, of_pair = label(method.upper()), label(pair)
    API_REQUESTS.labels(system, resource, verb, outcome, of_pair).inc()
    API_DURATION.labels(system, resource, verb, of_pair).observe(max(seconds, 0.0))


# -- worker processes -----------------------------------------------------------------------------
@quietly
def worker_started(epicor_concurrency: int) -> None:
    EPICOR_CONCURRENCY_MAX.set(epicor_concurrency)
    EPICOR_CONCURRENCY.labels("default").set(epicor_concurrency)  # until its first lease says what it is now
    worker_heartbeat()


@quietly
def epicor_limit(current: int, pair: str = "default") -> None:
    """The deployment's Epicor concurrency limit of ``pair`` as this worker last learnt it (tasks.budget)."""
    EPICOR_CONCURRENCY.labels(label(pair)).set(current)


@quietly
def worker_heartbeat() -> None:
    WORKER_HEARTBEAT.set(time.time())
