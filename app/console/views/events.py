"""An event's page: what happened to one payment or change, as an accountant asks it.

Its state now, the timeline (received, each stage with its times and attempts, errors), the Epicor
documents it created, links to the Stripe dashboard, the operator actions taken on it (who, when,
why) and, while it is dead-lettered, its masked record with retry and discard. A page for an event
still in flight refreshes its live part every two seconds (htmx) until the event is finished.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from app.api import HistoryUnavailable, event_view
from app.auth import current_user
from app.console import bp
from app.console.helpers import TERMINAL_STATES
from tasks.api import QueueUnavailable, dead_letter


def _page_data(event_id: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return event_view(event_id), None
    except (HistoryUnavailable, QueueUnavailable):
        return None, "The event store cannot be read right now; try again in a moment."


def _dead_letter(event_id: str) -> dict[str, Any] | None:
    try:
        return dead_letter(event_id)
    except QueueUnavailable:
        return None


def _render(template: str, event_id: str) -> tuple[str, int]:
    event, problem = _page_data(event_id)
    if event is None and problem is None:
        return render_template("console/not_found.html", what=f"event {event_id}"), 404
    user = current_user()
    return render_template(template, event_id=event_id, event=event or {}, problem=problem,
                           record=_dead_letter(event_id), terminal=TERMINAL_STATES,
                           may_change=bool(user and user.may("operator"))), 200 if problem is None else 503


@bp.get("/events/<event_id>")
def event_page(event_id: str) -> tuple[str, int]:
    return _render("console/event.html", event_id[:255])


@bp.get("/events/<event_id>/live")
def event_live(event_id: str) -> tuple[str, int]:
    return _render("console/_event_live.html", event_id[:255])
