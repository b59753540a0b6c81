"""``celery -A tasks dlq …``: list, show, retry and purge dead-letter records.

``retry`` puts the stored stage input back, re-queues the chain from the failed stage and removes the
record only once the chain is in the broker; if queueing fails the record stays. ``purge`` asks for
confirmation unless ``--yes``. ``--json`` prints machine-readable output (a list of records, each
with its ``id``).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import click

from tasks import dlq as dead_letters
from tasks import store
from tasks.chains import build_chain, envelope_for


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(float(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_table(records: list[dict[str, Any]]) -> None:
    if not records:
        click.echo("The dead-letter queue is empty.")
        return
    click.echo(f"{'EVENT':<32} {'TYPE':<28} {'STAGE':<14} {'REASON':<32} {'TRIES':>5}  LAST FAILURE")
    for r in records:
        click.echo(f"{r['id']:<32} {str(r.get('event_type')):<28} {r['stage']:<14} "
                   f"{str(r.get('reason')):<32} {r.get('attempts', 0):>5}  {_when(r.get('last_failed_at'))}")
        click.echo(f"    {r.get('message', '')}")


def retry_record(record: dict[str, Any]) -> None:
    """Re-queue one record's chain from its failed stage, then drop the record."""
    event_id = record["id"]
    event = store.get_event(event_id) or {"id": event_id}
    event = {**event, "source": record.get("source"), "type": record.get("event_type"),
             "flow": record.get("flow"), "object_id": record.get("object_id")}
    if record["stage"] != "fetch":
        store.put_stage_input(event_id, record["stage"], record["stage_input"])
    store.update_event(event_id, state="received", last_error=None, retried_at=store.now())
    build_chain(envelope_for(event), start=record["stage"]).apply_async()
    dead_letters.remove(event_id)


@click.group(name="dlq", help="Dead-letter queue: list | show ID | retry ID | retry --all | purge")
@click.pass_context
def dlq_group(ctx: click.Context) -> None:
    ctx.ensure_object(dict)


@dlq_group.command("list", help="List dead-letter records, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(as_json: bool) -> None:
    records = dead_letters.list_records()
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        _print_table(records)


@dlq_group.command("show", help="Show one record, with the stored stage input.")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(event_id: str, as_json: bool) -> None:
    record = dead_letters.get(event_id)
    if not record:
        click.echo(f"No dead-letter record for {event_id}", err=True)
        sys.exit(1)
    click.echo(json.dumps(record, indent=2) if as_json else _describe(record))


def _describe(record: dict[str, Any]) -> str:
    lines = [f"{k}: {record.get(k)}" for k in ("id", "event_type", "object_id", "flow", "stage", "error_class",
                                               "reason", "message", "attempts", "failures")]
    lines += [f"first_failed_at: {_when(record.get('first_failed_at'))}",
              f"last_failed_at: {_when(record.get('last_failed_at'))}",
              "stage_input:", json.dumps(record.get("stage_input"), indent=2)]
    return "\n".join(lines)


@dlq_group.command("retry", help="Re-run a record's chain from the failed stage (or --all).")
@click.argument("event_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every record.")
@click.option("--json", "as_json", is_flag=True)
def retry_cmd(event_id: str | None, retry_all: bool, as_json: bool) -> None:
    if bool(event_id) == retry_all:
        raise click.UsageError("give one EVENT_ID or --all")
    records = dead_letters.list_records() if retry_all else [r for r in [dead_letters.get(event_id or "")] if r]
    if not records:
        click.echo(f"No dead-letter record for {event_id}", err=True)
        sys.exit(1)
    for record in records:
        retry_record(record)
    ids = [r["id"] for r in records]
    click.echo(json.dumps({"retried": ids}) if as_json else f"Re-queued {len(ids)} event(s): {', '.join(ids)}")


@dlq_group.command("purge", help="Delete every record (asks first).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
def purge_cmd(yes: bool, as_json: bool) -> None:
    records = dead_letters.list_records()
    if not yes and not click.confirm(f"Delete {len(records)} dead-letter record(s)?", default=False):
        click.echo("Nothing deleted.")
        return
    for record in records:
        dead_letters.remove(record["id"])
    click.echo(json.dumps({"purged": len(records)}) if as_json else f"Deleted {len(records)} record(s).")


dlq = dlq_group
