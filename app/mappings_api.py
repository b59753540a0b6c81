"""Field mapping versions over HTTP: list, read, preview, publish and restore (``/api/mappings``).

Who may do what, and why: anyone with a console user may read the versions; an ``operator`` may preview
what the *published* mappings make of an event (a dry run changes nothing); previewing a *draft*, publishing
and restoring need an ``admin``, because a published mapping decides what every following payment posts.
Publish and restore require a comment (it is the change's record in the history) and, like every change
the console makes, a CSRF token with the session cookie (``app.auth``'s guard). A publish names the version
it was edited from (``base_version``): when someone published meanwhile it is refused with 409 rather than
overwriting a change its author never saw. A refused mapping is a 422 listing every problem with its
file, line and field. Nothing here gives a 5xx for any input; Redis away is a 503.

Integration pairs (``tasks.pairs``, issue 16): each pair has its own mappings. Every route here (and the
designer's and the tables', ``scoped_to_pair``) works for the pair the request names, ``pair`` in the query
or the JSON body (default: the default pair; a pair the deployment does not have is a 400): its versions,
its base files (its ``mappings_dir``), its events to preview; the history's record of a change names it.

The functions are ``tasks.api``'s, like every other part of the web (STYLE.md point 1).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.api import operator_name, pair_names
from app.auth import current_user, forbidden, require_role
from app.params import BadParameter, answers_bad_parameters, json_body, name_part, text_field, version_field
from tasks import pairs
from tasks.api import (
    MappingRefused,
    QueueUnavailable,
    mapping_catalogue,
    mapping_version,
    preview_mapping,
    publish_mapping,
    restore_mapping,
)

bp = Blueprint("mappings_api", __name__, url_prefix="/api/mappings")
answers_bad_parameters(bp)
MAX_YAML = 100_000  # characters of one document mapping; the shipped ones are about 2,000
MAX_COMMENT = 1000
STATUS = {"invalid": 422, "stale": 409, "unchanged": 409, "unknown": 404, "gone": 409, "refused": 400}


@bp.errorhandler(MappingRefused)
def _refused(exc: MappingRefused) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": exc.message}
    if exc.problems:
        body["problems"] = exc.problems
        body["errors"] = [f"{p['file']}:{p['line']}: {p['field']}: {p['message']}" for p in exc.problems]
    if exc.current is not None:
        body["current"] = exc.current
    return jsonify(body), STATUS.get(exc.kind, 400)


@bp.errorhandler(QueueUnavailable)
def _redis_away(_exc: QueueUnavailable) -> tuple[Response, int]:
    return jsonify({"error": "mapping store unavailable; try again"}), 503


# -- the pair worked for ---------------------------------------------------------------------------------
def request_pair() -> str:
    """The request's ``pair`` (query, else JSON body), the default pair when it names none; ``BadParameter``
    for a pair the deployment does not have."""
    raw = request.args.get("pair")
    if raw is None and request.is_json:
        body = request.get_json(silent=True)
        raw = body.get("pair") if isinstance(body, dict) else None
    if raw in (None, ""):
        return pairs.DEFAULT
    names = pair_names()
    if not isinstance(raw, str) or raw not in names:
        raise BadParameter(f"pair must be one of {', '.join(names)}")
    return raw


def scoped_to_pair(blueprint: Blueprint, applies: Any = None) -> None:
    """Run each request of ``blueprint`` (those ``applies(path)`` accepts) as the pair it names
    (``pairs.current``), reset when the request ends."""

    def _enter() -> None:
        if applies is None or applies(request.path):
            g.pair_token = pairs.current.set(request_pair())

    def _leave(_exc: BaseException | None) -> None:
        token = g.pop("pair_token", None)
        if token is not None:
            pairs.current.reset(token)

    blueprint.before_request(_enter)
    blueprint.teardown_request(_leave)


scoped_to_pair(bp)


# -- reading the request -----------------------------------------------------------------------------
def version_number(found: dict[str, Any], name: str, *, required: bool) -> int | None:
    return version_field(found, name, required=required, first="the shipped files")


def drafts_field(found: dict[str, Any]) -> dict[str, str] | None:
    drafts = found.get("draft")
    if drafts is None:
        return None
    if not isinstance(drafts, dict) or not drafts or not all(isinstance(v, str) for v in drafts.values()):
        raise BadParameter("draft must be an object of {<document>: <YAML text>}")
    for document, text in drafts.items():
        name_part(str(document), "a draft's document")
        if len(text) > MAX_YAML:
            raise BadParameter(f"draft {document} is longer than {MAX_YAML} characters")
    return {str(document): text for document, text in drafts.items()}


# -- routes --------------------------------------------------------------------------------------------
@bp.get("")
def catalogue() -> tuple[Response, int]:
    return jsonify({"mappings": mapping_catalogue()}), 200


@bp.get("/<flow>/<document>")
def version(flow: str, document: str) -> tuple[Response, int]:
    raw = request.args.get("version")
    if raw is not None and not (raw.isdigit() and 0 < len(raw) < 10):
        raise BadParameter("version must be a version number")
    found = mapping_version(name_part(flow, "flow"), name_part(document, "document"), int(raw) if raw else None)
    return jsonify(found), 200


@bp.post("/preview")
@require_role("operator")
def preview() -> tuple[Response, int] | tuple[Response | str, int]:
    found = json_body()
    drafts = drafts_field(found)
    user = current_user()
    if drafts and (user is None or not user.may("admin")):
        return forbidden("admin")  # a draft is unpublished text: only who may publish may try it
    event_id, flow = found.get("event_id"), found.get("flow")
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 255):
        raise BadParameter("event_id must be an event id (text)")
    if flow is not None:
        name_part(flow if isinstance(flow, str) else "", "flow")
    if not event_id and not flow:
        raise BadParameter("flow is required (or an event_id)")
    return jsonify(preview_mapping(flow, event_id=event_id, sample=found.get("sample"), drafts=drafts)), 200


@bp.post("/<flow>/<document>/publish")
@require_role("admin")
def publish(flow: str, document: str) -> tuple[Response, int]:
    found = json_body()
    made = publish_mapping(name_part(flow, "flow"), name_part(document, "document"),
                           text_field(found, "yaml", MAX_YAML), who=operator_name(),
                           comment=text_field(found, "comment", MAX_COMMENT),
                           base_version=version_number(found, "base_version", required=True))
    return jsonify(made), 201


@bp.post("/<flow>/<document>/restore")
@require_role("admin")
def restore(flow: str, document: str) -> tuple[Response, int]:
    found = json_body()
    made = restore_mapping(name_part(flow, "flow"), name_part(document, "document"),
                           version_number(found, "version", required=True) or 1, who=operator_name(),
                           comment=text_field(found, "comment", MAX_COMMENT),
                           base_version=version_number(found, "base_version", required=False))
    return jsonify(made), 201
