"""``celery -A tasks dlq …``: list, show, retry, discard and purge dead-letter records.

``retry`` puts the stored stage input back, re-queues the chain from the failed stage and removes the
record only once the chain is in the broker, and only if the record still describes the failure that
was retried (a replay that already failed again keeps its new record); if queueing fails the record
stays and the command exits non-zero. ``discard ID --comment TEXT`` drops one record on purpose with
the same function the console uses (``tasks.dlq.discard``); retries and discards are written to the
history as the operator actions of ``cli:<login name>``. ``purge`` asks for confirmation unless ``--yes``. ``--json``
prints machine-readable output (``list``: a list of records, each with its ``id``). ``list`` and
``retry --all`` take ``--pair NAME``: only the records of that integration pair (``tasks.pairs``; a
record written before pairs existed is the pair ``default``'s).
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from tasks import dlq as dead_letters
from tasks import store
from tasks.chains import build_chain, envelope_for

COLUMNS = (("EVENT", 30), ("TYPE", 26), ("STAGE", 13), ("REASON", 34), ("TRIES", 5), ("LAST FAILURE", 20))


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _print_table(records: list[dict[str, Any]]) -> None:
    if not records:
        click.echo("The dead-letter queue is empty.")
        return
    click.echo(f"{len(records)} dead-letter record(s), oldest first:\n")
    click.echo("  ".join(name.ljust(width) for name, width in COLUMNS))
    for record in records:
        values = (record["id"], record.get("event_type"), record.get("stage"), record.get("reason"),
                  record.get("attempts", 0), _when(record.get("last_failed_at")))
        click.echo("  ".join(_cell(value, width).ljust(width) for value, (_, width) in zip(values, COLUMNS)))
        click.echo(f"    {_cell(record.get('message', ''), 160)}")


# Failures that a published mapping or lookup-table change is meant to fix: their documents are built
# again (from ``fetch``) so a retry posts what is published now, not the documents that failed. The
# rebuild is safe at any stage because post finds every document by its reference before creating it.
REBUILT_STAGES = frozenset({"validate"})
REBUILT_REASONS = ("reference.", "mapping.", "config.")


def restart_stage(record: dict[str, Any]) -> str:
    """The stage a retry of ``record`` starts from: ``fetch`` for a failure a mapping fixes, else its own."""
    stage = str(record["stage"])
    if stage in REBUILT_STAGES or str(record.get("reason") or "").startswith(REBUILT_REASONS):
        return "fetch"
    return stage


def retry_record(record: dict[str, Any]) -> None:
    """Re-queue one record's chain (``restart_stage``), then drop that record."""
    event_id = record["id"]
    event = store.get_event(event_id) or {"id": event_id}
    event = {**event, "source": record.get("source"), "type": record.get("event_type"),
             "flow": record.get("flow"), "object_id": record.get("object_id"),
             "pair": event.get("pair") or record_pair(record)}
    start = restart_stage(record)
    if start != "fetch":
        store.put_stage_input(event_id, start, record["stage_input"])
    store.update_event(event_id, state="received", last_error=None, retried_at=store.now())
    build_chain(envelope_for(event), start=start).apply_async()
    dead_letters.remove(event_id, failure_id=record.get("failure_id", ""))


def cli_operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


@click.group(name="dlq", help="Dead-letter queue: list | show ID | retry ID | retry --all | discard ID | purge")
@click.pass_context
def dlq_group(ctx: click.Context) -> None:
    ctx.ensure_object(dict)


def record_pair(record: dict[str, Any]) -> str:
    return str(record.get("pair") or "default")


def of_pair(records: list[dict[str, Any]], pair: str | None) -> list[dict[str, Any]]:
    return records if pair is None else [record for record in records if record_pair(record) == pair]


PAIR_OPTION = click.option("--pair", default=None, metavar="NAME",
                           help="Only the records of this integration pair (default: every pair's).")


@dlq_group.command("list", help="List dead-letter records, oldest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of records.")
@PAIR_OPTION
def list_cmd(as_json: bool, pair: str | None) -> None:
    records = of_pair(dead_letters.list_records(), pair)
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        _print_table(records)


@dlq_group.command("show", help="Show one record, with the stored stage input.")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show_cmd(event_id: str, as_json: bool) -> None:
    record = dead_letters.get(event_id)
    if not record:
        click.echo(f"No dead-letter record for {event_id}", err=True)
        sys.exit(1)
    click.echo(json.dumps(record, indent=2) if as_json else _describe(record))


def _describe(record: dict[str, Any]) -> str:
    lines = [f"{k:<16} {record.get(k)}" for k in ("id", "pair", "event_type", "object_id", "flow", "stage",
                                                  "error_class", "reason", "message", "attempts", "failures")]
    lines += [f"{'first_failed_at':<16} {_when(record.get('first_failed_at'))}",
              f"{'last_failed_at':<16} {_when(record.get('last_failed_at'))}",
              "stage_input:", json.dumps(record.get("stage_input"), indent=2)]
    return "\n".join(lines)


@dlq_group.command("retry", help="Re-run a record's chain from the failed stage (or --all).")
@click.argument("event_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every record.")
@click.option("--json", "as_json", is_flag=True, help="Print {retried: [...], failed: [...]}.")
@PAIR_OPTION
def retry_cmd(event_id: str | None, retry_all: bool, as_json: bool, pair: str | None) -> None:
    if bool(event_id) == retry_all:
        raise click.UsageError("give one EVENT_ID or --all")
    if pair is not None and not retry_all:
        raise click.UsageError("--pair goes with --all")
    records = of_pair(dead_letters.list_records(), pair) if retry_all \
        else [r for r in [dead_letters.get(event_id or "")] if r]
    if not records and not retry_all:
        click.echo(f"No dead-letter record for {event_id}", err=True)
        sys.exit(1)
    retried, failed = _retry_each(records)
    if as_json:
        click.echo(json.dumps({"retried": retried, "failed": failed}))
    else:
        click.echo(f"Re-queued {len(retried)} event(s)" + (f": {', '.join(retried)}" if retried else "."))
        if failed:
            click.echo(f"Could not queue {len(failed)} event(s), records kept: {', '.join(failed)}", err=True)
    if failed:
        sys.exit(1)


def _retry_each(records: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    retried, failed = [], []
    for record in records:
        try:
            retry_record(record)
        except Exception:  # noqa: BLE001 - keep the record and go on with the others
            failed.append(record["id"])
        else:
            retried.append(record["id"])
    for event_id in retried:
        dead_letters.audit(who=cli_operator(), action="dlq.retry", target=event_id)
    return retried, failed


@dlq_group.command("discard", help="Drop one record on purpose, with a comment saying why.")
@click.argument("event_id")
@click.option("--comment", required=True, help="Why the event will not be posted (kept in the history).")
@click.option("--json", "as_json", is_flag=True, help="Print {discarded: [ID]}.")
def discard_cmd(event_id: str, comment: str, as_json: bool) -> None:
    if not comment.strip():
        raise click.UsageError("--comment must say why the event is discarded")
    record = dead_letters.discard(event_id, who=cli_operator(), comment=comment.strip())
    if record is None:
        click.echo(f"No dead-letter record for {event_id}", err=True)
        sys.exit(1)
    dead_letters.audit(who=cli_operator(), action="dlq.discard", target=event_id, comment=comment.strip())
    click.echo(json.dumps({"discarded": [event_id]}) if as_json else f"Discarded {event_id}.")


@dlq_group.command("purge", help="Delete every record (asks first unless --yes).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print {purged: N}.")
def purge_cmd(yes: bool, as_json: bool) -> None:
    records = dead_letters.list_records()
    if not records:
        click.echo(json.dumps({"purged": 0}) if as_json else "The dead-letter queue is empty.")
        return
    question = f"Delete {len(records)} dead-letter record(s)? Their events will not be posted"
    if not yes and not click.confirm(question, default=False, err=True):
        click.echo("Nothing deleted.", err=True)
        sys.exit(1)
    purged = sum(dead_letters.remove(r["id"], failure_id=r.get("failure_id", "")) for r in records)
    click.echo(json.dumps({"purged": purged}) if as_json else f"Deleted {purged} record(s).")


dlq = dlq_group
