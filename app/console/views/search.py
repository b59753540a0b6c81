"""Search: any Stripe id (``evt_``, ``ch_``, ``pi_``, ``cs_``, ``cus_``, ``in_``, ``re_``, ``dp_``, ``po_``)
or Epicor number (CustNum, OrderNum, InvoiceNum, cash receipt HeadNum) finds the events and the Epicor
documents it names; with no query, the latest events, filtered by state and flow.

The page asks the same functions the JSON API does (``app.api``), so what an accountant sees and what
``/api/search`` answers cannot drift apart. A history that cannot be read says so on the page (and the
exact event id is still found in Redis) instead of failing the page.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from app.api import STATES, HistoryUnavailable, from_history, pair_names, public
from app.console import bp
from app.console.helpers import TERMINAL_STATES
from tasks.api import QueueUnavailable, event_status

MAX_QUERY = 200


@bp.get("/search")
def search() -> tuple[str, int]:
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    state = request.args.get("state") if request.args.get("state") in STATES else None
    flow = (request.args.get("flow") or "").strip()[:64] or None
    pairs = pair_names()  # the pair filter is offered only when the deployment has several
    pair = request.args.get("pair") if request.args.get("pair") in pairs else None
    others = tuple(name for name in pairs if name != "default")
    found: dict[str, Any] = {"events": [], "documents": []}
    problem = None
    try:
        if q:
            found = from_history(lambda h: h.search(q))
        else:
            found["events"] = from_history(lambda h: h.list_events(state=state, flow=flow, limit=50, pair=pair,
                                                                   other_pairs=others))
    except HistoryUnavailable:
        problem = "The history cannot be read right now; only an exact event id is looked up."
    if q and not found.get("events"):
        found["events"] = _exact_event(q)
    return render_template("console/search.html", q=q, state=state, flow=flow, states=sorted(STATES),
                           found=found, problem=problem, terminal=TERMINAL_STATES, pairs=pairs, pair=pair), 200


def _exact_event(q: str) -> list[dict[str, Any]]:
    try:
        record = event_status(q) if len(q) <= 255 else None
    except QueueUnavailable:
        return []
    return [public(record)] if record else []
