"""What the mapping designer page needs beyond ``/api/mappings``: ``/api/designer/*``, admins only.

The page (``/console/mappings``) edits a document mapping structurally; these endpoints give it the model
of one mapping (targets with type, length and whether required; the transform registry with its help),
the flow's source fields with a real event's values, the recent events of the flow (dead-lettered ones
included) to use as samples, what an event actually posted, one field's edit applied to the YAML text
(comments and layout kept), and the draft's diff against the live version. Previewing, publishing and
restoring stay ``/api/mappings``'s, so the page goes through the same checks as any other client.

Everything here is ``admin``: a mapping decides what every following payment posts, and the samples show
customers' data. Nothing here changes anything (the edit returns text; only publish stores it), so only
the edit and diff are POSTs, for their body, and they carry the CSRF token like every console change.
Bad input is a 400 with the reason, an unknown flow, document or event a 404, Redis away a 503.

Integration pairs: every route works for the request's ``pair`` (``app.mappings_api.scoped_to_pair``):
that pair's mappings and directory; the samples are that pair's events, and another pair's event is refused.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api import HistoryUnavailable, from_history, pair_names
from app.auth import current_user, forbidden
from app.mappings_api import MAX_YAML, _redis_away, _refused, scoped_to_pair  # the same answers as /api/mappings
from app.params import BadParameter, answers_bad_parameters, json_body, name_part, text_field
from tasks import pairs
from tasks.api import (
    MappingRefused,
    QueueUnavailable,
    dead_letters_of,
    designer_diff,
    designer_edit,
    designer_event_flow,
    designer_model,
    designer_sources,
    event_posted,
)

bp = Blueprint("designer_api", __name__, url_prefix="/api/designer")
answers_bad_parameters(bp)
bp.register_error_handler(MappingRefused, _refused)
bp.register_error_handler(QueueUnavailable, _redis_away)

SAMPLE_EVENTS = 12
MAX_SPEC = 10_000  # characters of one field's spec as JSON; a real one is under 200
MAX_EVENT_ID = 255


@bp.before_request
def _admins_only() -> tuple[Response | str, int] | None:
    user = current_user()
    return None if user is not None and user.may("admin") else forbidden("admin")


scoped_to_pair(bp)  # after the admins' check: a viewer is told 403, not that the pair is unknown


def _event_id(value: Any, *, required: bool = True) -> str | None:
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_ID or not value.isprintable():
        raise BadParameter("event_id must be an event id (text)")
    return value


@bp.get("/<flow>/<document>")
def model(flow: str, document: str) -> tuple[Response, int]:
    return jsonify(designer_model(name_part(flow, "flow"), name_part(document, "document"))), 200


@bp.get("/<flow>/sources")
def sources(flow: str) -> tuple[Response, int]:
    builders = [name_part(name, "a builder") for name in request.args.get("builders", "").split(",") if name]
    event_id = _event_id(request.args.get("event_id"), required=False)
    return jsonify(designer_sources(name_part(flow, "flow"), builders, event_id)), 200


@bp.get("/<flow>/samples")
def samples(flow: str) -> tuple[Response, int]:
    """The flow's recent events, newest first, dead-lettered ones marked, to preview a draft against."""
    event_flow = designer_event_flow(name_part(flow, "flow"))
    pair = pairs.current.get()  # the pair being edited: only its events are samples
    dead = [record for record in dead_letters_of((event_flow,), limit=SAMPLE_EVENTS * 4)
            if (record.get("pair") or pairs.DEFAULT) == pair][:SAMPLE_EVENTS]
    listed = [{"event_id": record["id"], "type": record.get("event_type") or record.get("type"), "state": "dead",
               "at": record.get("last_failed_at"), "reason": record.get("reason"),
               "message": record.get("message")} for record in dead]
    history_note = None
    try:
        others = tuple(name for name in pair_names() if name != pairs.DEFAULT)
        recent = from_history(lambda q: q.list_events(flow=event_flow, limit=SAMPLE_EVENTS * 2, pair=pair,
                                                      other_pairs=others))
    except HistoryUnavailable:
        recent, history_note = [], "the history cannot be read right now: only dead-lettered events are listed"
    seen = {item["event_id"] for item in listed}
    for event in recent:
        if event["id"] not in seen and event.get("state") != "ignored" and len(listed) < SAMPLE_EVENTS * 2:
            listed.append({"event_id": event["id"], "type": event.get("type"), "state": event.get("state"),
                           "at": event.get("received_at"), "reason": (event.get("error") or {}).get("reason"),
                           "amount": event.get("amount_text")})
            seen.add(event["id"])
    return jsonify({"flow": flow, "event_flow": event_flow, "pair": pair, "samples": listed,
                    "note": history_note}), 200


@bp.post("/edit")
def edit() -> tuple[Response, int]:
    found = json_body()
    section = text_field(found, "section", 20)
    field = text_field(found, "field", 80)
    spec = found.get("spec")
    if spec is not None and (not isinstance(spec, dict) or len(json.dumps(spec)) > MAX_SPEC):
        raise BadParameter("spec must be a field mapping object ({from|const|template|placeholder, transforms}) "
                           "or null to unmap the field")
    return jsonify({"yaml": designer_edit(text_field(found, "yaml", MAX_YAML), section, field, spec)}), 200


@bp.post("/<flow>/<document>/diff")
def diff(flow: str, document: str) -> tuple[Response, int]:
    found = json_body()
    return jsonify(designer_diff(name_part(flow, "flow"), name_part(document, "document"),
                                 text_field(found, "yaml", MAX_YAML))), 200


@bp.get("/events/<event_id>/posted")
def posted(event_id: str) -> tuple[Response, int]:
    return jsonify(event_posted(_event_id(event_id) or "")), 200
