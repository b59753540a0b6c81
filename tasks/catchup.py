"""Catch-up of Stripe events the receiver never got (an outage, a disabled endpoint, a lost delivery).

Policy: Stripe keeps events listable for 30 days. Each run lists, newest first and across all pages,

1. every event created since the newest one the previous run saw (less a ten-minute overlap, because
   an event can appear in the list a little after its ``created`` time), and
2. every event of the whole 30-day window that Stripe itself failed to deliver
   (``delivery_success=false``), which catches a delivery Stripe is still retrying from long ago.

An event whose type has a flow and whose id the service has never recorded goes through
``tasks.api.receive``, exactly like a live delivery: recorded once under its id (``SET NX``) and
queued, so a live delivery racing the catch-up still runs the chain once. Events already recorded
(done, dead, ignored or in progress) and types with no flow are left alone. The first run, with no
previous mark, looks back ``CATCHUP_FIRST_RUN_DAYS`` (3 by default: Stripe retries live deliveries
for three days), never the whole 30 days, so installing the service does not post a month of history.

Runs every ``CATCHUP_INTERVAL_SECONDS`` (default 900) from Celery beat (task ``catchup.run``) and on
demand: ``python -m tasks.catchup [--days N] [--dry-run] [--json]``. Runs never overlap (a lock).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import click

from tasks import celery_app, liveness, periodic, store
from tasks.api import payment_hint, receive
from tasks.connectors.stripe_api import StripeConnector
from tasks.flows import flow_for

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30 * 86400
OVERLAP_SECONDS = 600
PAGE_SIZE = 100
MARK = ("catchup", "stripe")


def first_run_days() -> float:
    return float(os.environ.get("CATCHUP_FIRST_RUN_DAYS", "3"))


def window_start(now: int, last_seen: int | None, days: float | None) -> int:
    """The oldest ``created`` to list: an explicit look-back, else since the mark, within 30 days."""
    oldest = now - WINDOW_SECONDS + 60
    if days is not None:
        return max(oldest, int(now - days * 86400))
    if last_seen is None:
        return max(oldest, int(now - first_run_days() * 86400))
    return max(oldest, last_seen - OVERLAP_SECONDS)


def event_summary(event: dict[str, Any]) -> dict[str, Any]:
    """The same small record the webhook receiver keeps: ids, type, version; never the payload."""
    obj = (event.get("data") or {}).get("object") or {}
    return {"id": event["id"], "source": "stripe", "type": event["type"], "object_id": obj.get("id"),
            "object_type": str(obj.get("object") or ""), "api_version": str(event.get("api_version") or ""),
            "created": event.get("created"), "livemode": bool(event.get("livemode")),
            "account": str(event.get("account") or ""), "received_via": "catch-up", "payment": payment_hint(obj)}


def listed_events(stripe: StripeConnector, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event matching ``filters``, newest first, all pages."""
    params: dict[str, Any] = {**filters, "limit": PAGE_SIZE}
    while True:
        page = stripe.events_page(params)
        events = page.get("data") or []
        yield from events
        if not page.get("has_more") or not events:
            return
        params = {**filters, "limit": PAGE_SIZE, "starting_after": events[-1]["id"]}


def catch_up(stripe: StripeConnector, *, days: float | None = None, dry_run: bool = False,
             now: int | None = None) -> dict[str, Any]:
    """One catch-up run; returns its counts (and, with ``dry_run``, queues nothing)."""
    now = int(now or time.time())
    mark = store.key(*MARK)
    recorded = store.client().hget(mark, "last_seen")
    since = window_start(now, int(recorded) if recorded else None, days)
    summary: dict[str, Any] = {"since": since, "until": now, "listed": 0, "queued": 0, "already_received": 0,
                               "no_flow": 0, "queued_ids": []}
    seen: set[str] = set()
    newest = int(recorded) if recorded else 0
    for filters in ({"created": {"gte": since}},
                    {"delivery_success": False, "created": {"gte": now - WINDOW_SECONDS + 60}}):
        for event in listed_events(stripe, filters):
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            newest = max(newest, int(event.get("created") or 0))
            _consider(event, summary, dry_run)
    if not dry_run and newest:
        store.client().hset(mark, mapping={"last_seen": str(newest), "last_run_at": str(now)})
    return summary


def _consider(event: dict[str, Any], summary: dict[str, Any], dry_run: bool) -> None:
    summary["listed"] += 1
    if not flow_for(event["type"]):
        summary["no_flow"] += 1
        return
    if store.get_event(event["id"]) is not None:
        summary["already_received"] += 1
        return
    if not dry_run:
        receive(event_summary(event))
    summary["queued"] += 1
    summary["queued_ids"].append(event["id"])


def run_locked(days: float | None = None, dry_run: bool = False) -> dict[str, Any] | None:
    """A catch-up run unless another one is in progress (then None)."""
    return periodic.run_locked("catchup", lambda ctx: catch_up(ctx.stripe, days=days, dry_run=dry_run))


@celery_app.task(name="catchup.run", ignore_result=True)
def run_catchup() -> None:
    """The beat task: one run, its counts in the worker log."""
    liveness.note_periodic_run("catchup.run")  # the console's beat tile
    summary = run_locked()
    if summary:
        log.info("catch-up listed %s events, queued %s", summary["listed"], summary["queued"])


@click.command(help="Queue Stripe events the service never received (last 30 days at most).")
@click.option("--days", type=float, default=None, help="Look back this many days instead of since the last run.")
@click.option("--since", type=int, default=None, help="List from this Unix time instead (within 30 days).")
@click.option("--dry-run", is_flag=True, help="Only report what would be queued.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def main(days: float | None, since: int | None, dry_run: bool, as_json: bool) -> None:
    if days is not None and not 0 < days <= 30:
        raise click.BadParameter("must be more than 0 and at most 30 (Stripe keeps events 30 days)",
                                 param_hint="--days")
    if since is not None:
        days = max((time.time() - since) / 86400, 1 / 86400)
    summary = run_locked(days, dry_run)
    if summary is None:
        click.echo("Another catch-up is running.", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    verb = "would queue" if dry_run else "queued"
    click.echo(f"Listed {summary['listed']} events since {summary['since']}: {verb} {summary['queued']}, "
               f"{summary['already_received']} already received, {summary['no_flow']} with no flow.")
    for event_id in summary["queued_ids"]:
        click.echo(f"  {event_id}")


if __name__ == "__main__":
    main()
