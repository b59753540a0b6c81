"""Assisted mapping over HTTP, for the mapping designer: suggestions and a person's verdict on one.

``POST /api/mappings/suggest`` ``{"flow", "document", "targets": [optional "Table.Field", …]}`` answers
``{"suggestions": [{"target", "candidates": [{"source", "transform", "confidence", "level", "reasons"}]}]}``,
scoped to the document's Epicor tables and the flow's sources (declared shape plus this site's recent
events). ``POST /api/mappings/suggest/feedback`` ``{"flow", "document", "target", "source", "accepted"}``
counts the verdict for the ranker and records who gave it and when in the history.

Both need an ``admin`` (whoever may publish a mapping decides what it reads) and, with a session, the CSRF
token (``app.auth``'s guard). Bad input is a 400 naming what is wrong; Redis away on feedback is a 503.
Suggesting itself never needs Redis: without it the site's verdicts and keys are simply not used.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from app.api import operator_name
from app.auth import require_role
from app.params import BadParameter, answers_bad_parameters, is_name, json_body

bp = Blueprint("assist_api", __name__, url_prefix="/api/mappings/suggest")
answers_bad_parameters(bp)
MAX_FIELD = 300
MAX_TARGETS = 500


def _name(found: dict[str, Any], field: str) -> str:
    value = found.get(field)
    if not is_name(value):
        raise BadParameter(f"{field} is required: a name (letters, digits, _)")
    return str(value)


def _field(found: dict[str, Any], field: str) -> str:
    value = found.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_FIELD:
        raise BadParameter(f"{field} is required: a field name (text, at most {MAX_FIELD} characters)")
    return value.strip()


def _targets(found: dict[str, Any]) -> list[str] | None:
    targets = found.get("targets")
    if targets is None or targets == []:
        return None
    if not isinstance(targets, list) or len(targets) > MAX_TARGETS or \
            not all(isinstance(name, str) and 0 < len(name) <= MAX_FIELD for name in targets):
        raise BadParameter(f"targets must be a list of at most {MAX_TARGETS} field names (Table.Field)")
    return targets


@bp.post("")
@require_role("admin")
def suggest() -> tuple[Response, int]:
    from tasks.assist.service import SuggestRefused, suggest_mapping

    found = json_body()
    flow, document, targets = _name(found, "flow"), _name(found, "document"), _targets(found)
    try:
        return jsonify(suggest_mapping(flow, document, targets)), 200
    except SuggestRefused as exc:
        raise BadParameter(str(exc)) from None


@bp.post("/feedback")
@require_role("admin")
def feedback() -> tuple[Response, int]:
    from tasks.assist.service import SuggestRefused, record_feedback

    found = json_body()
    flow, document = _name(found, "flow"), _name(found, "document")
    target, source, accepted = _field(found, "target"), _field(found, "source"), found.get("accepted")
    if not isinstance(accepted, bool):
        raise BadParameter("accepted is required: true or false")
    try:
        return jsonify(record_feedback(flow, document, target, source, accepted, who=operator_name())), 201
    except SuggestRefused as exc:
        raise BadParameter(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - the verdict store (Redis) away: try again, never a 500
        if type(exc).__module__.startswith("redis"):
            return jsonify({"error": "suggestion store unavailable; try again"}), 503
        raise
