"""Failures: the dead-letter queue grouped by cause, with retry and discard.

"14 x PartNum 'NEWPART-9' is not in Epicor" is one line: records whose reason and message differ only by
ids and times are one group (``tasks.dlq.group_key``). An operator retries one record or a whole group
once the cause is fixed, or discards them with a comment saying why (required); a viewer sees the same
page without the buttons and is refused (403) if they post anyway. Every change runs the functions of
``celery -A tasks dlq`` (through ``tasks.api``) and is written to the history as the operator's action.

The buttons work as plain forms (POST, then back to the page with a message) and, with htmx, swap
the list in place; either way the CSRF token goes with them.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.api import MAX_COMMENT, group_members, operator_name, pair_names
from app.auth import current_user, require_role
from app.console import bp
from tasks.api import (
    QueueUnavailable,
    dead_letter_groups,
    dead_letters,
    discard_dead_letters,
    retry_dead_letters,
)


def _listing() -> dict[str, Any]:
    pairs = pair_names()  # the pair filter is offered only when the deployment has several
    pair = request.args.get("pair") if request.args.get("pair") in pairs else None
    shown: dict[str, Any] = {"pairs": pairs, "pair": pair, "state": None, "flow": None}
    try:
        records = dead_letters()
    except QueueUnavailable:
        return shown | {"groups": [], "records_by_group": {}, "count": 0, "problem": "Redis cannot be read right now."}
    if pair:
        records = [record for record in records if (record.get("pair") or "default") == pair]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_group.setdefault(record["group"], []).append(record)
    return shown | {"groups": dead_letter_groups(records), "records_by_group": by_group, "count": len(records),
                    "problem": None}


def _render(template: str, message: str | None = None, status: int = 200) -> tuple[str, int]:
    user = current_user()
    return render_template(template, message=message, may_change=bool(user and user.may("operator")),
                           **_listing()), status


@bp.get("/failures")
def failures() -> tuple[str, int]:
    return _render("console/failures.html")


def _done(message: str, status: int = 200) -> Response | tuple[str, int]:
    """htmx swaps the refreshed list in; a plain form goes back where it came from with the message."""
    if request.headers.get("HX-Request"):
        return _render("console/_failures.html", message, status)
    flash(message, "ok" if status < 400 else "error")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/console/") and not back.startswith("//") else url_for(".failures"))


def _comment() -> str | None:
    comment = (request.form.get("comment") or "").strip()
    return comment[:MAX_COMMENT] if comment else None


def _summary(outcome: dict[str, list[str]], verb: str) -> tuple[str, int]:
    done = outcome.get(verb, [])
    parts = [f"{len(done)} event(s) {verb}" + (f": {', '.join(done[:5])}" if done else "")]
    if outcome.get("failed"):
        parts.append(f"{len(outcome['failed'])} could not be queued (kept)")
    if outcome.get("missing"):
        parts.append(f"{len(outcome['missing'])} no longer dead-lettered")
    return "; ".join(parts) + ".", 503 if outcome.get("failed") else 200


def _retry(event_ids: list[str]) -> Response | tuple[str, int]:
    try:
        return _done(*_summary(retry_dead_letters(event_ids, operator_name()), "retried"))
    except QueueUnavailable:
        return _done("Redis cannot be reached; nothing was retried.", 503)


def _discard(event_ids: list[str]) -> Response | tuple[str, int]:
    comment = _comment()
    if comment is None:
        return _done("A comment is required to discard: say why the event will not be posted.", 400)
    try:
        return _done(*_summary(discard_dead_letters(event_ids, operator_name(), comment), "discarded"))
    except QueueUnavailable:
        return _done("Redis cannot be reached; nothing was discarded.", 503)


@bp.post("/failures/<event_id>/retry")
@require_role("operator")
def retry_one(event_id: str) -> Response | tuple[str, int]:
    return _retry([event_id[:255]])


@bp.post("/failures/<event_id>/discard")
@require_role("operator")
def discard_one(event_id: str) -> Response | tuple[str, int]:
    return _discard([event_id[:255]])


def _members(key: str) -> list[str]:
    try:
        return group_members(key)
    except QueueUnavailable:
        return []


@bp.post("/failures/groups/<key>/retry")
@require_role("operator")
def retry_group(key: str) -> Response | tuple[str, int]:
    members = _members(key)
    return _retry(members) if members else _done("That group is no longer in the queue.", 404)


@bp.post("/failures/groups/<key>/discard")
@require_role("operator")
def discard_group(key: str) -> Response | tuple[str, int]:
    members = _members(key)
    return _discard(members) if members else _done("That group is no longer in the queue.", 404)
