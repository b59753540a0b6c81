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
demand: ``python -m tasks.catchup [--days N] [--dry-run] [--json] [--pair NAME]``. Runs never overlap (a
lock per pair).

Integration pairs (``tasks.pairs``): every pair is caught up with its own Stripe key, and each Stripe
Connect account a pair lists with that key and ``Stripe-Account`` (a platform's key lists only the
platform's own events). Each listing keeps its own mark, and what it finds is recorded and queued exactly
as that pair's receiver would (``<pair>:<id>`` for a pair other than the default, the pair in the
envelope), so a live delivery and the catch-up still meet on one record. One pair's Stripe being away
does not stop the others: its failure is reported with its name.
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
from tasks.context import context_for
from tasks.errors import classify
from tasks.flows import flow_for
from tasks.pairs import DEFAULT, get_pairs, working_for

log = logging.getLogger(__name__)

WINDOW_SECONDS = 30 * 86400
OVERLAP_SECONDS = 600
PAGE_SIZE = 100
MARK = ("catchup", "stripe")
COUNTS = ("listed", "queued", "already_received", "no_flow")  # what a run's summary adds up


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


def event_summary(event: dict[str, Any], pair: str = DEFAULT, account: str = "") -> dict[str, Any]:
    """The same small record the webhook receiver keeps: ids, type, version; never the payload. Of pair
    ``pair``, named as its receiver names it (``app.webhooks.of_pair``); ``account``: the Connect account
    it was listed for, when the event does not say."""
    obj = (event.get("data") or {}).get("object") or {}
    summary = {"id": event["id"], "source": "stripe", "type": event["type"], "object_id": obj.get("id"),
               "object_type": str(obj.get("object") or ""), "api_version": str(event.get("api_version") or ""),
               "created": event.get("created"), "livemode": bool(event.get("livemode")),
               "account": str(event.get("account") or account), "received_via": "catch-up",
               "payment": payment_hint(obj), "pair": pair}
    if pair != DEFAULT:
        summary |= {"id": f"{pair}:{event['id']}", "sender_id": event["id"]}
    return summary


def mark_key(pair: str = DEFAULT, account: str = "") -> str:
    """Where a listing keeps the newest ``created`` it saw: one per pair and Connect account (the default
    pair's own is the key it always was)."""
    suffix = (pair, account) if account else (() if pair == DEFAULT else (pair,))
    return store.key(*MARK, *suffix)


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
             now: int | None = None, pair: str = DEFAULT, account: str = "") -> dict[str, Any]:
    """One catch-up run of one listing (pair ``pair``'s key, or its Connect ``account``); returns its counts
    (and, with ``dry_run``, queues nothing)."""
    now = int(now or time.time())
    mark = mark_key(pair, account)
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
            _consider(event_summary(event, pair, account), summary, dry_run)
    if not dry_run and newest:
        store.client().hset(mark, mapping={"last_seen": str(newest), "last_run_at": str(now)})
    return summary


def _consider(summary_of_event: dict[str, Any], summary: dict[str, Any], dry_run: bool) -> None:
    summary["listed"] += 1
    if not flow_for(summary_of_event["type"]):
        summary["no_flow"] += 1
        return
    if store.get_event(summary_of_event["id"]) is not None:
        summary["already_received"] += 1
        return
    if not dry_run:
        receive(summary_of_event)
    summary["queued"] += 1
    summary["queued_ids"].append(summary_of_event["id"])


def listings(pair: str) -> list[str]:
    """What pair ``pair`` lists: its own account ("") and each Connect account it lists."""
    found = get_pairs().get(pair)
    return ["", *(found.connect_accounts if found else ())]


def catch_up_pair(pair: str, *, days: float | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Every listing of one pair, each with the pair's key (and ``Stripe-Account`` for a Connect account);
    the counts added up."""
    total: dict[str, Any] = {}
    for account in listings(pair):
        ctx = context_for({"pair": pair, "account": account})
        found = catch_up(ctx.stripe, days=days, dry_run=dry_run, pair=pair, account=account)
        total = found if not total else {
            **total, "since": min(total["since"], found["since"]),
            "queued_ids": total["queued_ids"] + found["queued_ids"],
            **{name: total[name] + found[name] for name in COUNTS}}
    return total


def run_locked(days: float | None = None, dry_run: bool = False, pair: str = DEFAULT) -> dict[str, Any] | None:
    """A catch-up run of pair ``pair`` unless another one of it is in progress (then None). The lock is the
    pair's (``tasks.store.key``), so one pair's long run never holds another's back."""
    with working_for(pair):
        return periodic.run_locked("catchup", lambda _ctx: catch_up_pair(pair, days=days, dry_run=dry_run))


def run_pairs(names: list[str] | None = None, days: float | None = None,
              dry_run: bool = False) -> dict[str, Any]:
    """A run of each pair named (every pair by default): {"pairs": {name: its counts, or {"busy": True}, or
    {"error": reason}}} and the counts of all of them added up (the shape of one pair's run)."""
    result: dict[str, Any] = {"since": int(time.time()), "until": int(time.time()), "queued_ids": [],
                              **dict.fromkeys(COUNTS, 0), "pairs": {}, "failed": []}
    for name in names or get_pairs().names():
        try:
            summary = run_locked(days, dry_run, name)
        except Exception as exc:  # noqa: BLE001 - one pair's Stripe away must not stop the other pairs
            reason = classify(exc).reason
            log.warning("catch-up of pair %s failed: %s", name, reason)
            result["pairs"][name] = {"error": reason}
            result["failed"].append(name)
            continue
        result["pairs"][name] = summary if summary is not None else {"busy": True}
        if summary:
            result["since"] = min(result["since"], summary["since"])
            result["queued_ids"] += summary["queued_ids"]
            for count in COUNTS:
                result[count] += summary[count]
    return result


@celery_app.task(name="catchup.run", ignore_result=True)
def run_catchup() -> None:
    """The beat task: one run of every pair, each pair's counts in the worker log."""
    liveness.note_periodic_run("catchup.run")  # the console's beat tile
    for name, summary in run_pairs()["pairs"].items():
        if "listed" in summary:
            log.info("catch-up of pair %s listed %s events, queued %s", name, summary["listed"], summary["queued"])


@click.command(help="Queue Stripe events the service never received (last 30 days at most).")
@click.option("--days", type=float, default=None, help="Look back this many days instead of since the last run.")
@click.option("--since", type=int, default=None, help="List from this Unix time instead (within 30 days).")
@click.option("--dry-run", is_flag=True, help="Only report what would be queued.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option("--pair", default=None, metavar="NAME", help="Only this integration pair (default: every pair).")
def main(days: float | None, since: int | None, dry_run: bool, as_json: bool, pair: str | None) -> None:
    if days is not None and not 0 < days <= 30:
        raise click.BadParameter("must be more than 0 and at most 30 (Stripe keeps events 30 days)",
                                 param_hint="--days")
    if pair is not None and get_pairs().get(pair) is None:
        raise click.BadParameter(f"no pair named {pair} (pairs: {', '.join(get_pairs().names())})",
                                 param_hint="--pair")
    if since is not None:
        days = max((time.time() - since) / 86400, 1 / 86400)
    result = run_pairs([pair] if pair else None, days, dry_run)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_result(result, dry_run)
    busy = [name for name, summary in result["pairs"].items() if summary.get("busy")]
    for name in busy:
        click.echo(f"Another catch-up of pair {name} is running.", err=True)
    sys.exit(1 if busy or result["failed"] else 0)


def _print_result(result: dict[str, Any], dry_run: bool) -> None:
    verb = "would queue" if dry_run else "queued"
    titled = len(result["pairs"]) > 1 or DEFAULT not in result["pairs"]  # a single-pair service: as before
    for name, summary in result["pairs"].items():
        title = f"Pair {name}: " if titled else ""
        if "error" in summary:
            click.echo(f"{title}not caught up: {summary['error']}")
        elif "listed" in summary:
            click.echo(f"{title}Listed {summary['listed']} events since {summary['since']}: {verb} "
                       f"{summary['queued']}, {summary['already_received']} already received, "
                       f"{summary['no_flow']} with no flow.")
            for event_id in summary["queued_ids"]:
                click.echo(f"  {event_id}")


if __name__ == "__main__":
    main()
