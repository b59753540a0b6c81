"""Read side of the history, for the console and ``/api/*``: JSON-ready dicts.

Times are ISO 8601 with their zone (UTC), counts and minor-unit amounts are numbers, money totals are
decimal text in the currency's own decimals ("1234.50"). Every query is an index look-up or reads the
rollups, never a scan of the events, so it answers in milliseconds over millions of events:

- ``search(q)``: a Stripe id (``evt_``, ``ch_``, ``pi_``, ``cs_``, ``cus_``, ``in_``, ``re_``, ``dp_``,
  ``po_`` …) through ``history_refs``; a number through the documents' Epicor number columns and the
  refs ``CustNum:n``, ``OrderNum:n``, ``InvoiceNum:n``, ``HeadNum:n``; a cash group id or an external
  reference through the documents.
- ``stats(window, pair=None)``: the rollup tables (per-minute outcomes, per-hour latency histograms, per-day
  amounts, per-hour Epicor errors), every integration pair's together or one pair's (each rollup row is one
  pair's, read by the index on the pair and the time).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from history import db, writer
from history.models import (
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

OfRows = TypeVar("OfRows", bound=Select[*tuple[Any, ...]])
WINDOWS = {"1h": 3600, "24h": 86400, "30d": 30 * 86400}
MAX_LIMIT = 500
# Stripe's minor units (tasks/mapping/currency.py keeps the same tables for the postings).
ZERO_DECIMAL = frozenset(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv",
                          "xaf", "xof", "xpf"])
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def money_text(amount: int | None, currency: str | None) -> str | None:
    """Minor units as decimal text in the currency's decimals: 123450 usd → "1234.50"."""
    if amount is None or not currency:
        return None
    places = 0 if currency.lower() in ZERO_DECIMAL else 3 if currency.lower() in THREE_DECIMAL else 2
    return str(Decimal(amount).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def _connect() -> Connection:
    return db.engine().connect()


# -- events ------------------------------------------------------------------------------------
def event_row(row: Any) -> dict[str, Any]:
    error = {"reason": row.error_reason, "message": row.error_message} if row.error_reason else None
    return {
        "id": row.id, "type": row.type, "flow": row.flow, "source": row.source, "state": row.state,
        "stage": row.stage, "attempts": row.attempts or 0, "object_id": row.object_id, "payment": row.payment,
        "received_at": iso(row.received_at), "updated_at": iso(row.updated_at), "finished_at": iso(row.finished_at),
        "error": error, "amount": row.amount, "currency": row.currency,
        "amount_text": money_text(row.amount, row.currency),
        "epicor_keys": json.loads(row.epicor_keys) if row.epicor_keys else {},
    }


def _before(before: Any) -> float | None:
    if before is None or before == "":
        return None
    if isinstance(before, (int, float)):
        return float(before)
    try:
        return float(before)
    except ValueError:
        return datetime.fromisoformat(str(before).replace("Z", "+00:00")).timestamp()


def list_events(state: str | None = None, flow: str | None = None, q: str | None = None, limit: int = 50,
                before: Any = None, pair: str | None = None, other_pairs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Newest first; ``q`` narrows to the events a search finds; ``before`` (ISO time) pages back; ``pair``
    to one integration pair's events (``tasks.pairs``: a pair's event ids are ``<pair>:<id>``, the default
    pair's are not prefixed by any of ``other_pairs``)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    query: Select[Any] = select(Event).order_by(Event.received_at.desc()).limit(limit)
    if pair == "default":
        for other in other_pairs:
            query = query.where(~Event.id.like(_prefix_pattern(other), escape="\\"))
    elif pair:
        query = query.where(Event.id.like(_prefix_pattern(pair), escape="\\"))
    if state:
        query = query.where(Event.state == state)
    if flow:
        query = query.where(Event.flow == flow)
    cutoff = _before(before)
    if cutoff is not None:
        query = query.where(Event.received_at < cutoff)
    with _connect() as connection:
        if q:
            query = query.where(Event.id.in_(_matching_event_ids(connection, q.strip())))
        return [event_row(row) for row in connection.execute(query)]


def _prefix_pattern(pair: str) -> str:
    return pair.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"


def event_detail(event_id: str) -> dict[str, Any] | None:
    with _connect() as connection:
        row = connection.execute(select(Event).where(Event.id == event_id)).first()
        if row is None:
            return None
        detail = event_row(row)
        detail["timeline"] = [{"at": iso(t.at), "state": t.state, "stage": t.stage, "attempt": t.attempt,
                               "error": {"reason": t.error_reason, "message": t.error_message}
                               if t.error_reason else None}
                              for t in connection.execute(select(Transition).where(Transition.event_id == event_id)
                                                          .order_by(Transition.at, Transition.rid))]
        detail["documents"] = [document_row(d) for d in connection.execute(
            select(Document).where(Document.event_id == event_id).order_by(Document.at, Document.id))]
        detail["writebacks"] = [{"stripe_object": w.stripe_object, "fields": json.loads(w.fields), "at": iso(w.at)}
                                for w in connection.execute(select(Writeback).where(Writeback.event_id == event_id)
                                                            .order_by(Writeback.at))]
        detail["operator_actions"] = _actions(connection, event_id, 100)
    return detail


def document_row(row: Any) -> dict[str, Any]:
    return {"entity": row.entity, "keys": json.loads(row.keys), "external_ref": row.external_ref,
            "amount": row.amount, "currency": row.currency, "amount_text": money_text(row.amount, row.currency),
            "at": iso(row.at), "event_id": row.event_id}


# -- search --------------------------------------------------------------------------------------
NUMBER_REFS = ("CustNum", "OrderNum", "InvoiceNum", "HeadNum")


def _ref_candidates(q: str) -> list[str]:
    if q.isdigit() and len(q) < 19:
        return [f"{name}:{q}" for name in NUMBER_REFS]
    return [q]


def _matching_event_ids(connection: Connection, q: str, limit: int = 200) -> list[str]:
    ids = list(connection.execute(select(Ref.event_id).where(Ref.ref.in_(_ref_candidates(q))).limit(limit)).scalars())
    if connection.execute(select(Event.id).where(Event.id == q)).first():
        ids.append(q)
    ids += [row.event_id for row in _documents_matching(connection, q, limit) if row.event_id not in ids]
    return ids[:limit]


def _document_matches(q: str) -> list[Any]:
    """One condition per indexed column: each query is one index look-up (an OR of them may scan)."""
    if q.isdigit() and len(q) < 19:
        number = int(q)
        return [Document.cust_num == number, Document.order_num == number, Document.invoice_num == number,
                Document.head_num == number]
    return [Document.external_ref == q, Document.group_id == q]


def _documents_matching(connection: Connection, q: str, limit: int) -> list[Any]:
    found: dict[int, Any] = {}
    for condition in _document_matches(q):
        found.update((row.id, row) for row in connection.execute(select(Document).where(condition).limit(limit)))
    return list(found.values())


def search(q: str, limit: int = 100) -> dict[str, Any]:
    """Events and documents for any Stripe id, Epicor number, cash group id or external reference."""
    q = (q or "").strip()
    if not q or len(q) > 255:
        return {"events": [], "documents": []}
    with _connect() as connection:
        ids = _matching_event_ids(connection, q, limit)
        # Sorted here, not by ORDER BY: with one, the planners walk the time index and filter (a scan).
        events = sorted((event_row(row) for row in connection.execute(select(Event).where(Event.id.in_(ids)))),
                        key=lambda e: e["received_at"] or "", reverse=True) if ids else []
        found = {row.id: row for row in _documents_matching(connection, q, limit)}
        for chunk in (ids[i:i + 100] for i in range(0, len(ids), 100)):
            found.update((row.id, row) for row in connection.execute(
                select(Document).where(Document.event_id.in_(chunk))))
        documents = sorted(found.values(), key=lambda d: d.at, reverse=True)[:limit]
        return {"events": events, "documents": [document_row(d) for d in documents]}


# -- operator actions ------------------------------------------------------------------------------
def _actions(connection: Connection, target: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(OperatorAction).order_by(OperatorAction.at.desc()).limit(max(1, min(limit, 1000)))
    if target:
        query = query.where(OperatorAction.target == target)
    return [{"who": a.who, "action": a.action, "target": a.target, "comment": a.comment,
             "result": json.loads(a.result) if a.result else None, "at": iso(a.at)}
            for a in connection.execute(query)]


def operator_actions(target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with _connect() as connection:
        return _actions(connection, target, limit)


def mapping_changes(mapping: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Mapping changes, newest first (``history.mapping_files`` records files changed on disk)."""
    query = select(MappingChange).order_by(MappingChange.at.desc()).limit(max(1, min(limit, 1000)))
    if mapping:
        query = query.where(MappingChange.mapping == mapping)
    with _connect() as connection:
        return [{"who": c.who, "mapping": c.mapping, "version": c.version, "comment": c.comment, "at": iso(c.at)}
                for c in connection.execute(query)]


# -- stats -----------------------------------------------------------------------------------------
def stats(window: str = "24h", now: float | None = None, pair: str | None = None) -> dict[str, Any]:
    """Counts by flow and outcome, latency p50/p95 (seconds), net amounts per currency, events per
    minute (per hour for 30d) by outcome, amounts per day, Epicor errors by reason, over ``window``;
    ``pair``: one integration pair's only (``pair`` in the answer; absent, every pair's together)."""
    span = WINDOWS.get(window)
    if span is None:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    since = (now or time.time()) - span
    with _connect() as connection:
        return {"window": window, "since": iso(since), **({"pair": pair} if pair else {}),
                "counts": _counts(connection, since, pair), "latency": _latency(connection, since, pair),
                **_amounts(connection, since, pair),
                "per_minute": _per_minute(connection, since, 3600 if window == "30d" else 60, pair),
                "epicor_errors": _errors(connection, since, pair)}


def _of_pair(query: OfRows, model: Any, pair: str | None) -> OfRows:
    """``query`` narrowed to one pair's rollup rows (``pair`` None: every pair's)."""
    return query.where(model.pair == pair) if pair else query


def _counts(connection: Connection, since: float, pair: str | None = None) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    query = (select(MinuteCount.flow, MinuteCount.outcome, func.sum(MinuteCount.n))
             .where(MinuteCount.minute >= int(since // 60 * 60)).group_by(MinuteCount.flow, MinuteCount.outcome))
    for flow, outcome, n in connection.execute(_of_pair(query, MinuteCount, pair)):
        if n:
            counts.setdefault(flow, {})[outcome] = int(n)
    return counts


def _latency(connection: Connection, since: float, pair: str | None = None) -> dict[str, float | None]:
    query = (select(LatencyBucket.bucket, func.sum(LatencyBucket.n))
             .where(LatencyBucket.hour >= int(since // 3600 * 3600))
             .group_by(LatencyBucket.bucket).order_by(LatencyBucket.bucket))
    histogram = [(int(bucket), int(n)) for bucket, n in connection.execute(_of_pair(query, LatencyBucket, pair)) if n]
    return {"p50": _percentile(histogram, 0.50), "p95": _percentile(histogram, 0.95),
            "n": sum(n for _, n in histogram)}


def _percentile(histogram: list[tuple[int, int]], fraction: float) -> float | None:
    total = sum(n for _, n in histogram)
    if not total:
        return None
    seen = 0
    for bucket, n in histogram:
        seen += n
        if seen >= fraction * total:
            return round(writer.bucket_seconds(bucket), 3)
    return round(writer.bucket_seconds(histogram[-1][0]), 3)


def _amounts(connection: Connection, since: float, pair: str | None = None) -> dict[str, Any]:
    query = (select(DayAmount.day, DayAmount.currency, func.sum(DayAmount.amount))
             .where(DayAmount.day >= int(since // 86400 * 86400))
             .group_by(DayAmount.day, DayAmount.currency).order_by(DayAmount.day, DayAmount.currency))
    totals: dict[str, int] = {}
    per_day = []
    for day, currency, amount in connection.execute(_of_pair(query, DayAmount, pair)):
        totals[currency] = totals.get(currency, 0) + int(amount)
        per_day.append({"day": (iso(day) or "")[:10], "currency": currency,
                        "amount": money_text(int(amount), currency)})
    return {"amounts": {currency: money_text(total, currency) for currency, total in sorted(totals.items())},
            "per_day": per_day}


def _per_minute(connection: Connection, since: float, step: int, pair: str | None = None) -> list[dict[str, Any]]:
    start = int(since // 60 * 60)
    slot = (MinuteCount.minute - MinuteCount.minute % step) if step != 60 else MinuteCount.minute
    query = (select(slot.label("slot"), MinuteCount.outcome, func.sum(MinuteCount.n))
             .where(MinuteCount.minute >= start).group_by("slot", MinuteCount.outcome).order_by("slot"))
    return [{"minute": iso(minute), "outcome": outcome, "n": int(n)}
            for minute, outcome, n in connection.execute(_of_pair(query, MinuteCount, pair)) if n]


def _errors(connection: Connection, since: float, pair: str | None = None) -> dict[str, int]:
    query = (select(HourErrors.reason, func.sum(HourErrors.n)).where(HourErrors.hour >= int(since // 3600 * 3600))
             .group_by(HourErrors.reason))
    return {reason: int(n) for reason, n in connection.execute(_of_pair(query, HourErrors, pair)) if n}
