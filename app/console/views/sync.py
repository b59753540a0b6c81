"""The console's Epicor → Stripe page (``/console/sync``): customers and orders synced, pending and failed.

Epicor ``Customer.*`` events keep a Stripe customer in step (flow ``epicor_customer``) and
``SalesOrder.Created`` bills the order with a Stripe invoice (flow ``epicor_sales_order``). For each,
the page shows what is done (from the history store: the Epicor number and the Stripe id it was
synced to), what is still pending (the events in flight, from Redis: ``tasks.api.unfinished_events``)
and what failed (the dead letters of that flow, with the reason an accountant can act on; replayed
from the Failures page). Counts are the last 30 days of the history. A part that cannot be read shows
so and the page still answers 200.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import render_template

from app.console import bp, helpers  # noqa: F401  helpers: the stripe_url template global
from app.console.views.overview import history_stats
from tasks.api import QueueUnavailable, dead_letters_of, unfinished_events

log = logging.getLogger(__name__)

SYNC_FLOWS = (("epicor_customer", "Customers", "CustNum"), ("epicor_sales_order", "Orders", "OrderNum"))
LIST_LIMIT = 50


def iso(epoch: Any) -> str:
    if epoch in (None, ""):
        return ""
    if isinstance(epoch, str) and not epoch.replace(".", "", 1).isdigit():
        return epoch  # already ISO 8601 (the history store's form)
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")


def synced(flow: str) -> list[dict[str, Any]] | None:
    """Events of ``flow`` done, newest first, from the history; None when it cannot be read."""
    try:
        from history import queries

        return queries.list_events(state="done", flow=flow, limit=LIST_LIMIT)
    except Exception:  # noqa: BLE001 - the history database away must not take the page down
        log.warning("history list unavailable")
        return None


def live(flow: str) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """(pending, failed) from Redis, or (None, None) when Redis cannot be read."""
    try:
        return unfinished_events((flow,), limit=LIST_LIMIT), dead_letters_of((flow,), limit=LIST_LIMIT)
    except QueueUnavailable:
        return None, None


def section(flow: str, title: str, number: str, counts: dict[str, Any]) -> dict[str, Any]:
    pending, failed = live(flow)
    return {"flow": flow, "title": title, "number": number, "synced": synced(flow), "pending": pending,
            "failed": failed, "counts": {outcome: int(n) for outcome, n in counts.get(flow, {}).items()}}


@bp.get("/sync")
def sync() -> str:
    stats = history_stats("30d")
    counts = stats.get("counts", {}) if stats is not None else {}
    sections = [section(flow, title, number, counts) for flow, title, number in SYNC_FLOWS]
    return render_template("console/sync.html", sections=sections, iso=iso, history_available=stats is not None)
