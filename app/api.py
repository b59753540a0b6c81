"""The JSON API under ``/api/``: events, search, figures and dead letters, for the console and scripts.

Every route needs a console user (``app.auth``: the session, or HTTP Basic); changing a dead letter
needs the operator role. Answers are JSON: times are ISO 8601 with their zone, counts are numbers,
amounts in decimal text. A bad parameter is a 400 naming it, never a 5xx; a store that cannot be read
is a 503 so a client knows to try again.

Reads come from two places: Redis holds an event's working record (its state now: ``tasks.api``),
the history database (``history.queries``) holds what happened to it over time (timeline, documents,
operator actions) and outlives Redis's records. ``GET /api/events/<id>`` keeps the fields it always
had (``state``, ``stage``, ``epicor_keys``, ``last_error``, ``received_at`` …) and adds ``timeline``,
``documents`` and ``actions``. Dead-letter changes run the same functions as ``celery -A tasks dlq``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request

from app.auth import current_user, require_role
from app.params import BadParameter, answers_bad_parameters
from tasks.api import (
    QueueUnavailable,
    dead_letter,
    dead_letter_groups,
    dead_letters,
    discard_dead_letters,
    event_status,
    payout_reports,
    retry_dead_letters,
)

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")
answers_bad_parameters(bp)

PUBLIC_EVENT_FIELDS = ("id", "source", "type", "object_id", "flow", "state", "stage", "epicor_keys",
                       "last_error", "reason", "received_at", "queued_at", "updated_at", "finished_at",
                       "deliveries", "attempts", "api_version", "waiting_for", "discarded_at", "discarded_by",
                       "discard_comment", "mapping_version", "pair", "sender_id", "account")
TIME_FIELDS = ("received_at", "queued_at", "updated_at", "finished_at", "discarded_at", "first_failed_at",
               "last_failed_at", "retried_at")
COUNT_FIELDS = ("deliveries", "attempts", "failures")
STATES = frozenset({"received", "processing", "done", "dead", "ignored"})
WINDOWS = frozenset({"1h", "24h", "30d"})
MAX_TEXT = 200
MAX_COMMENT = 1000

T = TypeVar("T")


class HistoryUnavailable(RuntimeError):
    """The history database cannot be read right now."""


@bp.errorhandler(QueueUnavailable)
def _redis_away(_exc: QueueUnavailable) -> tuple[Response, int]:
    return jsonify({"error": "event store unavailable; try again"}), 503


@bp.errorhandler(HistoryUnavailable)
def _history_away(_exc: HistoryUnavailable) -> tuple[Response, int]:
    return jsonify({"error": "history store unavailable; try again"}), 503


# -- shaping ---------------------------------------------------------------------------------------
def iso_time(value: Any) -> Any:
    """Epoch seconds (number or text) as ISO 8601 in UTC; anything else unchanged."""
    try:
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return value


def as_count(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def public(record: dict[str, Any], fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A record with ISO times and numeric counts (and only ``fields`` when given)."""
    shaped = {name: record.get(name) for name in fields} if fields else dict(record)
    for name in TIME_FIELDS:
        if shaped.get(name) is not None:
            shaped[name] = iso_time(shaped[name])
    for name in COUNT_FIELDS:
        if shaped.get(name) is not None:
            shaped[name] = as_count(shaped[name])
    return shaped


# -- the history ---------------------------------------------------------------------------------------
def from_history(call: Callable[[ModuleType], T]) -> T:
    """``call(history.queries)``, or HistoryUnavailable when its database fails (the caller answers 503 or
    says so on the page). Imported on first use: the receiver's requests never read the history."""
    from history import queries

    try:
        return call(queries)
    except Exception as exc:  # noqa: BLE001 - any database error: the caller answers 503 or says so on the page
        log.warning("history unavailable: %s", type(exc).__name__)
        raise HistoryUnavailable(str(exc)) from None


def event_view(event_id: str) -> dict[str, Any] | None:
    """An event as ``GET /api/events/<id>`` gives it: the working record plus its history."""
    record = event_status(event_id)
    try:
        detail = from_history(lambda q: q.event_detail(event_id))
        actions: list[dict[str, Any]] = from_history(lambda q: q.operator_actions(target=event_id))
    except HistoryUnavailable:
        if record is None:
            raise
        detail, actions = None, []  # the working record alone still answers "what state is it in"
    if record is None and detail is None:
        return None
    merged = {**(detail or {}), **{k: v for k, v in public(record or {}, PUBLIC_EVENT_FIELDS).items()
                                   if v is not None or k not in (detail or {})}}
    return merged | {"id": event_id, "timeline": (detail or {}).get("timeline", []),
                     "documents": (detail or {}).get("documents", []), "actions": actions}


# -- parameters ------------------------------------------------------------------------------------
def text_arg(name: str, *, required: bool = False) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        if required:
            raise BadParameter(f"{name} is required")
        return None
    if len(value) > MAX_TEXT:
        raise BadParameter(f"{name} is longer than {MAX_TEXT} characters")
    return value


def limit_arg(default: int = 50, most: int = 500) -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadParameter(f"limit must be a whole number from 1 to {most}")
    return int(raw)


def time_arg(name: str) -> str | None:
    """An ISO 8601 time or epoch seconds, as given; a 400 for anything else."""
    value = text_arg(name)
    if value is None:
        return None
    try:
        float(value)
    except ValueError:
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadParameter(f"{name} must be an ISO 8601 time or epoch seconds") from None
    return value


def pair_names() -> list[str]:
    """The deployment's integration pairs, ``default`` first (``tasks.pairs``)."""
    from tasks.pairs import get_pairs

    return get_pairs().names()


def pair_arg() -> tuple[str | None, tuple[str, ...]]:
    """``?pair=``: one integration pair (``tasks.pairs``), and the other pairs' names; a 400 for a pair the
    deployment does not have."""
    pair = text_arg("pair")
    if pair is None:
        return None, ()
    names = pair_names()
    if pair not in names:
        raise BadParameter(f"pair must be one of {', '.join(names)}")
    return pair, tuple(name for name in names if name != "default")


def comment_arg() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    raw = body.get("comment") if isinstance(body, dict) else request.form.get("comment")
    comment = raw.strip() if isinstance(raw, str) else ""
    if not comment:
        raise BadParameter("comment is required: say why the event will not be posted")
    if len(comment) > MAX_COMMENT:
        raise BadParameter(f"comment is longer than {MAX_COMMENT} characters")
    return comment


def operator_name() -> str:
    user = current_user()
    return user.name if user else "unknown"


# -- events ----------------------------------------------------------------------------------------
@bp.get("/events")
def events() -> tuple[Response, int]:
    state = text_arg("state")
    if state and state not in STATES:
        raise BadParameter(f"state must be one of {', '.join(sorted(STATES))}")
    flow, q, before, limit = text_arg("flow"), text_arg("q"), time_arg("before"), limit_arg()
    pair, others = pair_arg()
    found: list[dict[str, Any]] = from_history(
        lambda h: h.list_events(state=state, flow=flow, q=q, limit=limit, before=before, pair=pair,
                                other_pairs=others))
    return jsonify({"events": found, "count": len(found)}), 200


@bp.get("/events/<event_id>")
def event(event_id: str) -> tuple[Response, int]:
    if len(event_id) > 255:
        raise BadParameter("event id is longer than 255 characters")
    view = event_view(event_id)
    if view is None:
        return jsonify({"error": f"event {event_id} was never received"}), 404
    return jsonify(view), 200


@bp.get("/search")
def search() -> tuple[Response, int]:
    q = text_arg("q", required=True) or ""
    found: dict[str, Any] = from_history(lambda h: h.search(q))
    if not found.get("events"):
        found = {**found, "events": _exact_event(q)}
    return jsonify({"q": q, **found}), 200


def _exact_event(q: str) -> list[dict[str, Any]]:
    """An event id the history has not got yet (it is written a moment later) is still found in Redis."""
    record = event_status(q) if len(q) <= 255 else None
    return [public(record, PUBLIC_EVENT_FIELDS)] if record else []


@bp.get("/stats")
def stats() -> tuple[Response, int]:
    window = text_arg("window") or "24h"
    if window not in WINDOWS:
        raise BadParameter("window must be one of 1h, 24h, 30d")
    pair, _ = pair_arg()  # one integration pair's figures; every pair's together without it
    return jsonify({"window": window, **from_history(lambda h: h.stats(window, pair=pair))}), 200


# -- dead letters ----------------------------------------------------------------------------------
def _listed(record: dict[str, Any]) -> dict[str, Any]:
    return public({k: v for k, v in record.items() if k not in ("stage_input", "failure_id")})


@bp.get("/dlq")
def dlq() -> tuple[Response, int]:
    records = dead_letters()
    groups = [public(group) for group in dead_letter_groups(records)]
    return jsonify({"count": len(records), "groups": groups, "records": [_listed(r) for r in records]}), 200


@bp.get("/dlq/<event_id>")
def dlq_record(event_id: str) -> tuple[Response, int]:
    record = dead_letter(event_id)
    if record is None:
        return jsonify({"error": f"no dead letter for {event_id}"}), 404
    return jsonify(public({k: v for k, v in record.items() if k != "failure_id"})), 200


def _answer(outcome: dict[str, list[str]], done: str) -> tuple[Response, int]:
    if not outcome[done] and outcome.get("missing"):
        return jsonify({"error": "no such dead letter", **outcome}), 404
    return jsonify(outcome), 503 if outcome.get("failed") else 200


@bp.post("/dlq/<event_id>/retry")
@require_role("operator")
def dlq_retry(event_id: str) -> tuple[Response, int]:
    return _answer(retry_dead_letters([event_id], operator_name()), "retried")


@bp.post("/dlq/<event_id>/discard")
@require_role("operator")
def dlq_discard(event_id: str) -> tuple[Response, int]:
    return _answer(discard_dead_letters([event_id], operator_name(), comment_arg()), "discarded")


def group_members(key: str) -> list[str]:
    for group in dead_letter_groups(dead_letters()):
        if group["key"] == key:
            return list(group["event_ids"])
    return []


@bp.post("/dlq/groups/<key>/retry")
@require_role("operator")
def dlq_group_retry(key: str) -> tuple[Response, int]:
    members = group_members(key)
    if not members:
        return jsonify({"error": f"no dead-letter group {key}"}), 404
    return _answer(retry_dead_letters(members, operator_name()), "retried")


@bp.post("/dlq/groups/<key>/discard")
@require_role("operator")
def dlq_group_discard(key: str) -> tuple[Response, int]:
    comment = comment_arg()
    members = group_members(key)
    if not members:
        return jsonify({"error": f"no dead-letter group {key}"}), 404
    return _answer(discard_dead_letters(members, operator_name(), comment), "discarded")


# -- mapping changes ---------------------------------------------------------------------------------
@bp.get("/mappings/changes")
def mapping_changes() -> tuple[Response, int]:
    mapping, limit = text_arg("mapping"), limit_arg(default=100, most=1000)
    changes: list[dict[str, Any]] = from_history(lambda queries: queries.mapping_changes(mapping, limit))
    return jsonify({"changes": changes, "count": len(changes)}), 200


# -- payouts (one report: app.payouts) --------------------------------------------------------------
@bp.get("/payouts")
def payouts() -> tuple[Response, int]:
    """The latest reports of every pair, or of ``?pair=`` (400 for a pair the deployment does not have)."""
    limit = limit_arg(default=50, most=200)
    pair, _ = pair_arg()
    reports = pairs_payout_reports(pair, limit)
    return jsonify({"payouts": reports, "count": len(reports)}), 200


def pairs_payout_reports(pair: str | None, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` payout reports of ``pair``, or of every pair (each pair keeps its own reports:
    ``tasks.store.key``), each naming its ``pair``, newest arrival first."""
    from tasks.pairs import working_for

    found: list[dict[str, Any]] = []
    for name in [pair] if pair else pair_names():
        with working_for(name):
            found += [{**report, "pair": name} for report in payout_reports(limit)]
    found.sort(key=lambda report: float(report.get("arrival_date") or report.get("checked_at") or 0), reverse=True)
    return found[:limit]
