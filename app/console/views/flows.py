"""The console's Flows page (``/console/flows``): each flow as its chain, live, and the routing table.

Policy, and why:

* **Figures from what is already recorded; nothing measured for this page.** Per stage: attempts by outcome
  and their mean run time come from the stage-duration histogram every worker keeps
  (``telemetry.metrics``, merged over every process like a ``/metrics`` scrape: since the workers started),
  dead letters from the dead-letter counter; events waiting at a stage now and events finished per flow in
  the last 24 hours come from the history (``history_events``, the minute roll-ups). Opening the page
  calls neither Epicor nor Stripe, and the workers pay nothing for it.
* **Live without reload.** The chains are one fragment htmx fetches again every few seconds.
* **Switching a flow off** is an admin's decision with a required comment (``tasks.flow_switches``: who,
  when, why; its events are then recorded ``ignored`` with that reason). Any console user sees the switches.
* **Always answers.** Metrics, history or Redis that cannot be read show so on the page, which is a 200.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import redis
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.api import operator_name
from app.auth import current_user, require_role
from app.console import bp
from tasks import flow_switches
from tasks.routing import EPICOR_EVENT_FLOWS, EVENT_FLOWS, STAGES

log = logging.getLogger(__name__)
PREFIX = "stripe_epicor_"
WINDOW = 86400.0
OUTCOMES = ("ok", "error", "retry", "skipped", "posted_before")


def flow_names() -> list[str]:
    return list(dict.fromkeys([*EVENT_FLOWS.values(), *(f for f in EPICOR_EVENT_FLOWS.values() if f)]))


def routing() -> dict[str, list[dict[str, str]]]:
    """Event types by flow, as the routing tables send them (Stripe's, then Epicor's)."""
    by_flow: dict[str, list[dict[str, str]]] = defaultdict(list)
    for event_type, flow in EVENT_FLOWS.items():
        by_flow[flow].append({"type": event_type, "source": "stripe"})
    for event_type, epicor_flow in EPICOR_EVENT_FLOWS.items():
        if epicor_flow:
            by_flow[epicor_flow].append({"type": event_type, "source": "epicor"})
    return by_flow


# -- figures --------------------------------------------------------------------------------------------
def metric_samples() -> list[Any]:
    """Every sample of the stage histogram and the dead-letter counter, over every process."""
    from prometheus_client import REGISTRY

    from telemetry import exposition, processes

    path = processes.directory()
    families = exposition.ProcessFiles(path).collect() if path else REGISTRY.collect()
    wanted = (PREFIX + "stage_duration_seconds", PREFIX + "dead_lettered")
    return [sample for family in families if family.name in wanted for sample in family.samples]


def stage_metrics() -> dict[tuple[str, str], dict[str, float]]:
    """{(flow, stage): {outcome: attempts, "seconds": total run time, "dead": dead letters}}."""
    figures: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for sample in metric_samples():
        labels = sample.labels
        where = (labels.get("flow", ""), labels.get("stage", ""))
        if sample.name.endswith("stage_duration_seconds_count"):
            figures[where][labels.get("outcome", "")] += sample.value
        elif sample.name.endswith("stage_duration_seconds_sum"):
            figures[where]["seconds"] += sample.value
        elif sample.name.endswith("dead_lettered_total"):
            figures[where]["dead"] += sample.value
    return figures


def history_figures(now: float | None = None) -> tuple[dict[tuple[str, str], int], dict[str, dict[str, int]]]:
    """Events waiting at each (flow, stage) now, and finished per flow and outcome in the last 24 hours."""
    from sqlalchemy import func, select

    from history import db
    from history.models import Event, MinuteCount

    since = (now or time.time()) - WINDOW
    waiting_query = (select(Event.flow, Event.stage, func.count()).where(Event.state.in_(("received", "processing")))
                     .where(Event.updated_at >= since).group_by(Event.flow, Event.stage))
    finished_query = (select(MinuteCount.flow, MinuteCount.outcome, func.sum(MinuteCount.n))
                      .where(MinuteCount.minute >= int(since // 60 * 60))
                      .group_by(MinuteCount.flow, MinuteCount.outcome))
    with db.engine().connect() as connection:
        waiting = {(str(flow), stage or "fetch"): int(n) for flow, stage, n in connection.execute(waiting_query)}
        finished: dict[str, dict[str, int]] = defaultdict(dict)
        for flow, outcome, n in connection.execute(finished_query):
            finished[flow][outcome] = int(n or 0)
    return waiting, finished


def stage_row(stage: str, figures: dict[str, float], waiting: int) -> dict[str, Any]:
    attempts = sum(figures.get(outcome, 0.0) for outcome in OUTCOMES)
    return {"stage": stage, "ok": int(figures.get("ok", 0)), "errors": int(figures.get("error", 0)),
            "skipped": int(figures.get("skipped", 0)), "dead": int(figures.get("dead", 0)),
            "attempts": int(attempts), "waiting": waiting,
            "mean_ms": round(figures.get("seconds", 0.0) / attempts * 1000, 1) if attempts else None}


def _read(what: str, read: Any, empty: Any) -> tuple[Any, str]:
    try:
        return read(), ""
    except Exception as exc:  # noqa: BLE001 - any store that cannot be read: the page says so, stays a 200
        log.warning("flow view: %s not readable (%s)", what, type(exc).__name__)
        return empty, f"{what} could not be read right now"


def flow_rows() -> list[dict[str, Any]]:
    """Each flow: its event types, its switch, its stages' figures and its last 24 hours."""
    metrics, metrics_problem = _read("the workers' metrics", stage_metrics, {})
    (waiting, finished), history_problem = _read("the history", history_figures, ({}, {}))
    switches, switch_problem = _read("the flow switches", flow_switches.all_switches, {})
    types = routing()
    problems = [p for p in (metrics_problem, history_problem, switch_problem) if p]
    return [{"flow": flow, "event_types": types.get(flow, []), "switch": switches.get(flow) or {"off": False},
             "off_reason": flow_switches.reason(flow, switches[flow]) if switches.get(flow, {}).get("off") else "",
             "stages": [stage_row(stage, metrics.get((flow, stage), {}), waiting.get((flow, stage), 0))
                        for stage in STAGES],
             "last_24h": finished.get(flow, {}), "problems": problems} for flow in flow_names()]


# -- pages ----------------------------------------------------------------------------------------------
def _is_admin() -> bool:
    user = current_user()
    return bool(user and user.may("admin"))


@bp.get("/flows")
def flows_page(refusal: str = "") -> str:
    rows = flow_rows()
    return render_template("console/flows.html", flows=rows, problems=rows[0]["problems"] if rows else [],
                           admin=_is_admin(), routing=list(EVENT_FLOWS.items()),
                           epicor_routing=list(EPICOR_EVENT_FLOWS.items()), refusal=refusal)


@bp.get("/flows/live")
def flows_live() -> str:
    rows = flow_rows()
    return render_template("console/_flows_live.html", flows=rows, problems=rows[0]["problems"] if rows else [],
                           admin=_is_admin())


@bp.post("/flows/<flow>/switch")
@require_role("admin")
def flows_switch(flow: str) -> ResponseReturnValue:
    """The switch form (a plain POST, then back to the page): refused with the page and a 400 when the flow
    is unknown or the comment missing."""
    comment = (request.form.get("comment") or "").strip()
    wanted = request.form.get("on")
    if flow not in flow_names() or not comment or wanted not in ("true", "false"):
        message = f"there is no flow {flow}" if flow not in flow_names() else \
            "a comment is required: say why the flow is switched"
        return flows_page(message), 404 if flow not in flow_names() else 400
    try:
        flow_switches.switch(flow, on=wanted == "true", who=operator_name(),
                             comment=comment[:flow_switches.MAX_COMMENT])
    except redis.RedisError:
        return flows_page("the switch could not be saved: Redis is unreachable; try again"), 503
    flash(f"flow {flow} switched {'on' if wanted == 'true' else 'off'}", "ok")
    return redirect(url_for("console.flows_page"), code=303)
