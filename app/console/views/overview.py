"""The console's Overview (``GET /console/``): is every part of the service well, and what did it do.

Policy, and why:

- **Health from what the processes already record.** The tiles read Redis (``tasks.api.live_figures``:
  queue depth, dead letters, unfinished events, the last answer of Epicor and Stripe noted by the
  connectors, beat's last runs) and ping the workers once every few seconds. Opening the page never
  calls Epicor or Stripe, so a dozen open consoles add no load on them.
- **Figures from the history store** (``history.queries.stats``, the same numbers as ``/api/stats``):
  counts by flow and outcome, receipt-to-done latency, amounts posted per currency, Epicor errors.
  Money is shown as the decimal text the store gives, never re-computed in floats.
- **Live without reload.** ``static/overview.js`` fetches the ``live`` fragment every few seconds and
  the chart series every half minute and swaps them in; no inline script (CSP ``script-src 'self'``).
- **Always answers.** A part that cannot be read (Redis away, the history database away) shows so on
  its own tile or table; the page itself is still a 200.
- **Readable without the charts.** Every chart has its numbers in a table next to it.
- **Integration pairs** (``tasks.pairs``). With more than one pair the page offers a pair filter
  (``?pair=``) and shows the Epicor concurrency limit of each pair (each Epicor company has its own); a
  chosen pair narrows the limit and dead-letter tiles and the history figures (counts, amounts, latency, the
  per-minute chart and the 30-day table: ``stats(pair=)``) to that pair. The other tiles (queues, workers,
  beat) are the deployment's, shared by every pair, and the page says so.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, jsonify, render_template, request

from app.api import pair_names
from app.console import bp
from tasks.api import QueueUnavailable, live_figures, ping, workers_alive

log = logging.getLogger(__name__)

WINDOWS = ("1h", "24h", "30d")
DEFAULT_WINDOW = "24h"
UNFINISHED_WARN_SECONDS = 300.0
QUEUE_WARN_DEPTH = 1000
# The history store answers the 30-day figures in under a second; the page polls every few seconds,
# so a short in-process memory keeps several open consoles from asking for the same figures at once.
STATS_MEMORY_SECONDS = {"1h": 2.0, "24h": 2.0, "30d": 5.0}
_stats_memory: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
_stats_lock = threading.Lock()


# -- reading -------------------------------------------------------------------------------------
def history_stats(window: str, pair: str | None = None) -> dict[str, Any] | None:
    """``history.queries.stats(window, pair=pair)`` (every pair's when None), or None when the history store
    cannot be read."""
    with _stats_lock:
        remembered = _stats_memory.get((window, pair))
    if remembered and time.monotonic() - remembered[0] < STATS_MEMORY_SECONDS[window]:
        return remembered[1]
    try:
        from history import queries

        figures = queries.stats(window, pair=pair)
    except Exception:  # noqa: BLE001 - the history database away must not take the page down
        log.warning("history figures unavailable")
        return None
    with _stats_lock:
        _stats_memory[(window, pair)] = (time.monotonic(), figures)
    return figures


def forget_stats() -> None:
    with _stats_lock:
        _stats_memory.clear()


def chosen_window() -> str:
    window = request.args.get("window", DEFAULT_WINDOW)
    return window if window in WINDOWS else DEFAULT_WINDOW


def chosen_pair(pairs: list[str]) -> str | None:
    """``?pair=`` when it names one of the deployment's pairs; None (every pair) otherwise."""
    pair = request.args.get("pair")
    return pair if pair in pairs else None


# -- health tiles --------------------------------------------------------------------------------
def tile(name: str, status: str, value: str, detail: str = "", link: str = "") -> dict[str, str]:
    """One tile: ``status`` is ok, warn, down or unknown (shown as text too, never by colour alone)."""
    return {"name": name, "status": status, "value": value, "detail": detail, "link": link}


def age_text(seconds: float) -> str:
    """A short age a person reads at a glance: ``12 s``, ``4 min``, ``3 h``, ``2 d``."""
    seconds = max(0.0, seconds)
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds // 86400)} d"


def iso(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else ""


def system_tile(label: str, seen: dict[str, Any], now: float) -> dict[str, str]:
    """Epicor or Stripe: reachable when its last answer is newer than its last failure to answer."""
    success, failure = seen.get("last_success"), seen.get("last_unreachable")
    if success is None and failure is None:
        return tile(label, "unknown", "no call yet", "nothing has called it since Redis was emptied")
    if failure is not None and (success is None or failure > success):
        return tile(label, "down", "unreachable", f"since {iso(failure)} ({seen.get('reason', '')}); "
                    f"last success {iso(success) or 'never'}")
    return tile(label, "ok", "reachable", f"last success {age_text(now - float(success or 0))} ago, {iso(success)}")


def beat_tile(periodic: dict[str, float], every: dict[str, float], now: float) -> dict[str, str]:
    """Beat is well when some periodic task ran within twice the longest schedule (plus a minute)."""
    if not periodic:
        return tile("Beat", "unknown", "no run recorded", "no periodic task has run since Redis was emptied")
    task, last = max(periodic.items(), key=lambda item: item[1])
    allowed = 2 * max(every.values(), default=900.0) + 60
    status = "ok" if now - last <= allowed else "down"
    return tile("Beat", status, f"last run {age_text(now - last)} ago", f"{task} at {iso(last)}")


def queue_tiles(figures: dict[str, Any], now: float) -> list[dict[str, str]]:
    queued = sum(figures["queues"].values())
    parts = ", ".join(f"{name} {depth}" for name, depth in figures["queues"].items())
    dead = int(figures["dead_letters"])
    oldest = figures.get("oldest_unfinished_at")
    waited = now - oldest if oldest else 0.0
    return [
        tile("Queue depth", "ok" if queued < QUEUE_WARN_DEPTH else "warn", str(queued), parts),
        tile("Dead letters", "ok" if dead == 0 else "warn", str(dead),
             "nothing to repair" if dead == 0 else "events that need an operator", link="/console/failures"),
        tile("Oldest unfinished", "ok" if waited < UNFINISHED_WARN_SECONDS else "warn",
             age_text(waited) if oldest else "none", f"{figures['unfinished']} events in flight"
             + (f"; received {iso(oldest)}" if oldest else "")),
    ]


def workers_tile() -> dict[str, str]:
    try:
        names = workers_alive()
    except QueueUnavailable:
        return tile("Workers", "unknown", "not asked", "Redis is unreachable")
    if not names:
        return tile("Workers", "down", "none answered", "no Celery worker answered a ping within a second")
    return tile("Workers", "ok", f"{len(names)} answering", ", ".join(names))


def epicor_limit_tile(pair: str = "default", titled: bool = False) -> dict[str, str]:
    """The deployment's Epicor concurrency limit of ``pair`` (``tasks.budget``): below its maximum while
    the adaptive back-off holds calls back from an overloaded Epicor. ``titled``: named by its pair."""
    from tasks import budget

    name = f"Epicor limit ({pair})" if titled else "Epicor limit"
    try:
        limit = budget.epicor_limit(pair=pair)
    except Exception:  # noqa: BLE001 - Redis away: the Redis tile says so
        return tile(name, "unknown", "not known", "Redis could not be read")
    if limit is None:
        return tile(name, "unknown", "not set yet", "no worker has leased an Epicor call permit")
    detail = f"calls in flight allowed; {limit['held']} leased by {limit['workers']} worker processes"
    if limit["current"] < limit["max"]:
        return tile(name, "warn", f"{limit['current']} of {limit['max']}",
                    "lowered: Epicor refused, slowed down or timed out; rising by one per quiet interval; " + detail)
    return tile(name, "ok", f"{limit['current']} of {limit['max']}", detail)


def limit_tiles(pairs: list[str], pair: str | None) -> list[dict[str, str]]:
    """The chosen pair's Epicor limit, else each pair's (one tile, as before, for a single-pair service)."""
    if pair is not None:
        return [epicor_limit_tile(pair, titled=True)]
    return [epicor_limit_tile(name, titled=len(pairs) > 1) for name in pairs]


def pair_dead_letters_tile(pair: str) -> dict[str, str]:
    """The dead letters of one pair (a record written before pairs existed is the default pair's)."""
    from tasks import dlq

    try:
        dead = sum((record.get("pair") or "default") == pair for record in dlq.list_records())
    except Exception:  # noqa: BLE001 - Redis away: the Redis tile says so
        return tile(f"Dead letters ({pair})", "unknown", "not known", "Redis could not be read")
    return tile(f"Dead letters ({pair})", "ok" if dead == 0 else "warn", str(dead),
                "nothing to repair" if dead == 0 else "events that need an operator",
                link=f"/console/failures?pair={pair}")


def health_tiles(now: float, pairs: list[str] | None = None, pair: str | None = None) -> list[dict[str, str]]:
    receiver = tile("Receiver", "ok", "answering", f"this web process (pid {os.getpid()})")
    if not ping():
        unknown = [tile(name, "unknown", "not known", "Redis is unreachable")
                   for name in ("Workers", "Beat", "Epicor", "Stripe", "Queue depth", "Dead letters",
                                "Oldest unfinished")]
        return [receiver, tile("Redis", "down", "unreachable", "events cannot be received"), *unknown]
    try:
        figures = live_figures()
    except QueueUnavailable:
        return [receiver, tile("Redis", "down", "unreachable", "Redis stopped answering")]
    queues = queue_tiles(figures, now)
    if pair is not None:  # that pair's dead letters beside the deployment's
        queues.insert(2, pair_dead_letters_tile(pair))
    return [receiver, tile("Redis", "ok", "reachable"), workers_tile(),
            beat_tile(figures.get("periodic", {}), figures.get("periodic_every", {}), now),
            system_tile("Epicor", figures.get("epicor", {}), now), *limit_tiles(pairs or ["default"], pair),
            system_tile("Stripe", figures.get("stripe", {}), now), *queues]


# -- figures -------------------------------------------------------------------------------------
def count_table(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Counts by flow (rows) and outcome (columns), with totals."""
    outcomes = sorted({outcome for by_outcome in counts.values() for outcome in by_outcome})
    cells = {flow: [int(counts[flow].get(outcome, 0)) for outcome in outcomes] for flow in sorted(counts)}
    rows = [{"flow": flow, "cells": line, "total": sum(line)} for flow, line in cells.items()]
    totals = [sum(line[i] for line in cells.values()) for i in range(len(outcomes))]
    return {"outcomes": outcomes, "rows": rows, "totals": totals, "total": sum(totals)}


def decimal_of(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def bars(pairs: list[tuple[str, Decimal]]) -> list[dict[str, Any]]:
    """Label, value and a bar width in percent of the largest (for the SVG/CSS bars beside the numbers)."""
    largest = max((value for _, value in pairs), default=Decimal(0))
    return [{"label": label, "value": value, "width": float(value / largest * 100) if largest > 0 else 0.0}
            for label, value in pairs]


def days_table(per_day: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """Amounts per day (rows, newest first) and currency (columns), with a bar chart per currency over
    the 30 days ending today (a day without postings is an empty slot, so bars keep their place)."""
    amounts: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in per_day:
        amounts[str(row["day"])[:10]][str(row["currency"]).upper()] = decimal_of(row["amount"])
    currencies = sorted({code for by_code in amounts.values() for code in by_code})
    days = sorted(amounts, reverse=True)
    rows = [{"day": day, "cells": [amounts[day].get(code) for code in currencies]} for day in days]
    today = int(now // 86400)
    slots = [datetime.fromtimestamp((today - back) * 86400, UTC).date().isoformat() for back in range(29, -1, -1)]
    charts = {code: bars([(day, amounts.get(day, {}).get(code, Decimal(0))) for day in slots])
              for code in currencies}
    totals = {code: sum((amounts[day].get(code, Decimal(0)) for day in days), Decimal(0)) for code in currencies}
    return {"currencies": currencies, "rows": rows, "charts": charts, "totals": totals}


def figures_of(stats: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(stats.get("epicor_errors", {}).items(), key=lambda item: (-int(item[1]), item[0]))
    latency = stats.get("latency") or {}
    return {"counts": count_table(stats.get("counts") or {}),
            "amounts": sorted((code.upper(), text) for code, text in (stats.get("amounts") or {}).items()),
            "latency": {"p50": latency.get("p50"), "p95": latency.get("p95")},
            "errors": bars([(reason, Decimal(int(n))) for reason, n in errors])}


def per_minute_series(per_minute: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """uPlot's columns for the last 24 h: minute starts (Unix seconds) and one count list per outcome."""
    start = int(now // 60 * 60) - 24 * 3600 + 60
    minutes = list(range(start, start + 24 * 3600, 60))
    position = {minute: i for i, minute in enumerate(minutes)}
    series: dict[str, list[int]] = {}
    for row in per_minute:
        at = position.get(int(_epoch(row["minute"]) // 60 * 60))
        if at is not None:
            series.setdefault(str(row["outcome"]), [0] * len(minutes))[at] += int(row["n"])
    return {"minutes": minutes, "series": dict(sorted(series.items()))}


def per_hour_table(series: dict[str, Any]) -> dict[str, Any]:
    """The per-minute chart's text alternative: counts per hour and outcome, newest hour first."""
    hours: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for outcome, counts in series["series"].items():
        for minute, n in zip(series["minutes"], counts):
            if n:
                hours[minute // 3600 * 3600][outcome] += n
    outcomes = list(series["series"])
    return {"outcomes": outcomes, "rows": [{"hour": iso(hour), "cells": [hours[hour].get(o, 0) for o in outcomes]}
                                           for hour in sorted(hours, reverse=True)]}


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


# -- routes --------------------------------------------------------------------------------------
def live_context() -> dict[str, Any]:
    window, now = chosen_window(), time.time()
    pairs = pair_names()  # the pair filter is offered only when the deployment has several
    pair = chosen_pair(pairs)
    stats = history_stats(window, pair)
    return {"tiles": health_tiles(now, pairs, pair), "window": window, "windows": WINDOWS,
            "figures": figures_of(stats) if stats is not None else None, "updated": iso(now),
            "pairs": pairs, "pair": pair}


def tables_context() -> dict[str, Any]:
    """The charts' numbers: events per hour and outcome (24 h) and amounts per day and currency (30 d), of
    the chosen pair (``?pair=``) or every pair's."""
    pair = chosen_pair(pair_names())
    day, month = history_stats("24h", pair), history_stats("30d", pair)
    series = per_minute_series(day.get("per_minute", []), time.time()) if day is not None else None
    return {"per_hour": per_hour_table(series) if series else None,
            "days": days_table(month.get("per_day", []), time.time()) if month is not None else None}


@bp.get("/")
def overview() -> str:
    return render_template("console/overview.html", **live_context(), **tables_context())


@bp.get("/overview/live")
def overview_live() -> str:
    return render_template("console/_overview_live.html", **live_context())


@bp.get("/overview/tables")
def overview_tables() -> str:
    return render_template("console/_overview_tables.html", **tables_context())


@bp.get("/overview/series.json")
def overview_series() -> Response:
    """The per-minute chart's data; ``available: false`` (still a 200: the page keeps polling quietly)
    while the history store is away. ``?pair=``: that pair's events only."""
    day = history_stats("24h", chosen_pair(pair_names()))
    if day is None:
        return jsonify({"available": False})
    return jsonify({"available": True, **per_minute_series(day.get("per_minute", []), time.time())})
