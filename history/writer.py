"""Writes a batch of stream records into the database, in one transaction, idempotently.

Records are applied in stream order, which is the order Redis executed the writes, so an event's
row always ends in its newest state. A record carries an id (``rid``): a state change whose ``rid``
is already in the timeline was written before (the drainer died between commit and deleting it from
the stream) and is skipped whole, rollups included; every other table takes its rows with
"insert, or nothing when it is there". Rollups change only when an event's *outcome* changes
(received → done, dead → done after a replay), so a duplicate delivery never counts twice.

Each rollup row is one integration pair's: the pair the event's received record names (``tasks.store``
writes it; a record without one, written before pairs existed, is the default pair's), kept on the
event's row so its later records count under the same pair.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from history import extract
from history.models import (
    DEFAULT_PAIR,
    DayAmount,
    Document,
    Event,
    HourErrors,
    LatencyBucket,
    MappingChange,
    MinuteCount,
    OperatorAction,
    Ref,
    Transition,
    Writeback,
)

FINISHED = ("done", "dead", "ignored")
LATENCY_BASE = 0.01  # seconds: bucket 0 holds anything faster
LATENCY_GROWTH = 1.25
LATENCY_BUCKETS = 80  # 0.01 s × 1.25^80 ≈ 15 days: the last bucket holds anything slower


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


EVENT_COLUMNS = [c.name for c in table_of(Event).columns]


def latency_bucket(seconds: float) -> int:
    if seconds <= LATENCY_BASE:
        return 0
    return min(LATENCY_BUCKETS, math.ceil(math.log(seconds / LATENCY_BASE, LATENCY_GROWTH)))


def bucket_seconds(bucket: int) -> float:
    """A bucket's representative latency: the geometric middle of its bounds."""
    return LATENCY_BASE * LATENCY_GROWTH ** max(0.0, bucket - 0.5)


class Batch:
    """The rows one batch of records adds; ``write`` puts them in the database."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.events: dict[str, dict[str, Any]] = {}
        self.new_events: set[str] = set()
        self.transitions: list[dict[str, Any]] = []
        self.refs: set[tuple[str, str]] = set()
        self.documents: list[dict[str, Any]] = []
        self.plain: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        # keys end with the event's integration pair (the rollup tables' last key column)
        self.minutes: Counter[tuple[int, str, str, str]] = Counter()
        self.latency: Counter[tuple[int, int, str]] = Counter()
        self.amounts: Counter[tuple[int, str, str, str]] = Counter()
        self.amount_counts: Counter[tuple[int, str, str, str]] = Counter()
        self.errors: Counter[tuple[int, str, str]] = Counter()

    # -- reading what is there -------------------------------------------------------------------
    def load(self, records: list[dict[str, Any]]) -> set[str]:
        """Load the batch's events; returns the rids already written (to skip)."""
        ids = list({str(r["id"]) for r in records if r.get("kind") == "event" and r.get("id")})
        for chunk in _chunks(ids, 500):
            for row in self.connection.execute(select(Event).where(Event.id.in_(chunk))).mappings():
                self.events[row["id"]] = dict(row)
        rids = [r["rid"] for r in records if r.get("kind") == "event" and r.get("rid")]
        done: set[str] = set()
        for chunk in _chunks(rids, 500):
            done.update(self.connection.execute(select(Transition.rid).where(Transition.rid.in_(chunk))).scalars())
        return done

    # -- applying records ------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "event" and record.get("id"):
            self._event(record)
        elif kind == "document":
            self._document(record)
        elif kind == "writeback":
            self._plain(Writeback, record, stripe_object=str(record.get("stripe_object") or ""),
                        event_id=record.get("event_id"), fields=extract.dumps(record.get("fields") or {}))
        elif kind == "operator_action":
            self._plain(OperatorAction, record, who=str(record.get("who") or "?"), action=str(record.get("action")),
                        target=record.get("target"), comment=record.get("comment"),
                        result=None if record.get("result") is None else extract.dumps(record["result"]))
        elif kind == "mapping_change":
            self._plain(MappingChange, record, who=str(record.get("who") or "?"),
                        mapping=str(record.get("mapping")), version=_text(record.get("version")),
                        comment=record.get("comment"), diff=record.get("diff"), content=record.get("content"))

    def _plain(self, model: Any, record: dict[str, Any], **row: Any) -> None:
        self.plain[table_of(model)].append({"rid": record["rid"], "at": float(record["at"]), **row})

    def _row(self, event_id: str, at: float) -> dict[str, Any]:
        row = self.events.get(event_id)
        if row is None:
            row = self.events[event_id] = {name: None for name in EVENT_COLUMNS}
            row.update(id=event_id, attempts=0, received_at=at, updated_at=at)
            self.new_events.add(event_id)
        return row

    def _event(self, record: dict[str, Any]) -> None:
        at = float(record["at"])
        row = self._row(str(record["id"]), at)
        for name in ("type", "flow", "source", "object_id", "payment", "currency"):
            if record.get(name):
                row[name] = str(record[name])[:255]
        if record.get("pair"):
            row["pair"] = str(record["pair"])[:32]
        if record.get("amount") is not None:
            row["amount"] = int(record["amount"])
        if record.get("state") == "received" or (record.get("state") == "ignored" and record.get("type")):
            row["received_at"] = at
        if record.get("mapping_version") is not None:
            row["mapping_version"] = extract.dumps(record["mapping_version"])
        if record.get("epicor_keys") is not None:
            row["epicor_keys"] = extract.dumps(record["epicor_keys"])
            self.refs.update((ref, row["id"]) for ref in extract.epicor_refs(record["epicor_keys"]))
        self.refs.update((str(ref)[:255], row["id"]) for ref in record.get("refs") or ())
        for ref in (record.get("object_id"), record.get("payment")):
            if ref:
                self.refs.add((str(ref)[:255], row["id"]))
        if record.get("state") or record.get("error"):
            self._transition(row, record, at)

    def _transition(self, row: dict[str, Any], record: dict[str, Any], at: float) -> None:
        error = record.get("error") or {}
        state = record.get("state")
        self.transitions.append({
            "rid": record["rid"], "event_id": row["id"], "at": at, "state": state, "stage": record.get("stage"),
            "attempt": record.get("attempt"), "error_reason": _text(error.get("reason")),
            "error_message": error.get("message")})
        row["updated_at"] = max(at, row["updated_at"] or at)
        if state:
            row["state"] = state
        if record.get("stage"):
            row["stage"] = record["stage"]
        if record.get("attempt"):
            row["attempts"] = int(record["attempt"])
        if error:
            row["error_reason"], row["error_message"] = _text(error.get("reason")), error.get("message")
            if str(error.get("reason") or "").startswith("epicor."):
                self.errors[(_hour(at), str(error["reason"])[:120], _pair(row))] += 1
        elif state == "done":
            row["error_reason"] = row["error_message"] = None
        if state in FINISHED and state != row["outcome"]:
            self._finish(row, state, at)

    def _finish(self, row: dict[str, Any], outcome: str, at: float) -> None:
        flow, pair = row["flow"] or "unknown", _pair(row)
        if row["outcome"]:
            self.minutes[(_minute(row["finished_at"] or at), flow, row["outcome"], pair)] -= 1
        self.minutes[(_minute(at), flow, outcome, pair)] += 1
        if outcome == "done":
            self.latency[(_hour(at), latency_bucket(at - (row["received_at"] or at)), pair)] += 1
            if row["amount"] is not None and row["currency"]:
                self.amounts[(_day(at), row["currency"], flow, pair)] += int(row["amount"])
                self.amount_counts[(_day(at), row["currency"], flow, pair)] += 1
        row["outcome"], row["finished_at"] = outcome, at

    def _document(self, record: dict[str, Any]) -> None:
        keys = record.get("keys") or {}
        if not isinstance(keys, dict) or not record.get("event_id"):
            return
        numbers = {name: extract.number(keys.get(name)) for name in ("CustNum", "OrderNum", "InvoiceNum", "HeadNum")}
        self.documents.append({
            "rid": record["rid"], "event_id": str(record["event_id"]), "entity": str(record.get("entity")),
            "doc_key": extract.doc_key(keys)[:255], "keys": extract.dumps(keys),
            "external_ref": _text(record.get("external_ref")), "amount": record.get("amount"),
            "currency": record.get("currency"), "at": float(record["at"]), "cust_num": numbers["CustNum"],
            "order_num": numbers["OrderNum"], "invoice_num": numbers["InvoiceNum"], "head_num": numbers["HeadNum"],
            "group_id": _text(keys.get("GroupID") or keys.get("CashGroupID"))})
        self.refs.update((ref, str(record["event_id"])) for ref in extract.epicor_refs(keys))

    # -- writing ------------------------------------------------------------------------------------
    def write(self) -> None:
        self._write_events()
        self._insert_new(table_of(Transition), self.transitions)
        self._insert_new(table_of(Ref), [{"ref": ref, "event_id": event_id} for ref, event_id in sorted(self.refs)])
        self._insert_new(table_of(Document), self.documents)
        for table, rows in self.plain.items():
            self._insert_new(table, rows)
        self._add_counts(table_of(MinuteCount), ("minute", "flow", "outcome", "pair"),
                         {k: {"n": v} for k, v in self.minutes.items()})
        self._add_counts(table_of(LatencyBucket), ("hour", "bucket", "pair"),
                         {k: {"n": v} for k, v in self.latency.items()})
        self._add_counts(table_of(DayAmount), ("day", "currency", "flow", "pair"),
                         {k: {"amount": v, "n": self.amount_counts[k]} for k, v in self.amounts.items()})
        self._add_counts(table_of(HourErrors), ("hour", "reason", "pair"),
                         {k: {"n": v} for k, v in self.errors.items()})

    def _write_events(self) -> None:
        table = table_of(Event)
        new_rows = [self.events[i] for i in self.new_events]
        old_rows = [{**row, "_id": row["id"]} for i, row in self.events.items() if i not in self.new_events]
        if new_rows:
            self.connection.execute(table.insert(), new_rows)
        if old_rows:
            values: dict[str, Any] = {name: bindparam(name) for name in EVENT_COLUMNS if name != "id"}
            self.connection.execute(update(table).where(table.c.id == bindparam("_id")).values(values), old_rows)

    def _insert(self, table: Table) -> Any:
        dialect = postgresql if self.connection.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _insert_new(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(self._insert(table).on_conflict_do_nothing(), rows)

    def _add_counts(self, table: Table, keys: tuple[str, ...], counts: dict[tuple[Any, ...], dict[str, int]]) -> None:
        rows = [{**dict(zip(keys, key)), **values} for key, values in counts.items() if any(values.values())]
        if not rows:
            return
        statement = self._insert(table)
        summed = {name: table.c[name] + statement.excluded[name] for name in rows[0] if name not in keys}
        self.connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=summed), rows)


def apply(connection: Connection, records: list[dict[str, Any]]) -> int:
    """Write ``records`` (in stream order) in the caller's transaction; returns how many were new."""
    batch = Batch(connection)
    written = batch.load(records)
    fresh = [r for r in records if r.get("rid") not in written]
    for record in fresh:
        batch.add(record)
    batch.write()
    return len(fresh)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:255]


def _pair(row: dict[str, Any]) -> str:
    return str(row.get("pair") or DEFAULT_PAIR)


def _minute(at: float) -> int:
    return int(at // 60 * 60)


def _hour(at: float) -> int:
    return int(at // 3600 * 3600)


def _day(at: float) -> int:
    return int(at // 86400 * 86400)


def decode(payload: str) -> dict[str, Any] | None:
    """A stream entry's record, or None for one that is not a record (kept out of the database)."""
    try:
        record = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(record, dict) or not record.get("rid") or not isinstance(record.get("at"), (int, float)):
        return None
    return record
