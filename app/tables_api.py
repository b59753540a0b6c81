"""Lookup tables and flow switches over HTTP (``/api/tables``, ``/api/flows``), for the console's pages and scripts.

Who may do what, and why: any console user reads the tables, their versions, their CSV and the flows;
checking a code in Epicor, importing a CSV, publishing and restoring a table, and switching a flow off or
on need an ``admin``, because a published table decides which part, reason code or currency every following
payment posts with, and a flow switched off stops posting. Every change requires a comment (its record in
the history, with who and when) and, on a session, the CSRF token (``app.auth``'s guard).

Answers: a publish names the version it was edited from (``base_version``): someone published meanwhile is
a 409 with the current version; a table the worker would refuse is a 422 with every problem on the row (the
CSV line, for an import) it belongs to; an unknown table is a 404; any other bad input is a 400 naming the
field; Redis away is a 503. A CSV import applies nothing: it answers the rows, for the editor to show as a
draft. Nothing here gives a 5xx for any input.

Integration pairs (``tasks.pairs``, issue 16): each pair has its own tables. Every ``/api/tables`` route works
for the request's ``pair`` (query or JSON body; default: the default pair; unknown: a 400): that pair's
versions, its files as deployed (its ``mappings_dir``), and a code is checked in that pair's Epicor company.

The tables' modules (``tasks.mapping.table_versions``, ``table_rows``, ``table_checks``) and the switches
(``tasks.flow_switches``) load no stage, flow or vendor patch; the Epicor connector is imported only when a
check is asked for (``table_checks.epicor_client``), so building the receiver stays light.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request

from app.api import operator_name
from app.auth import require_role
from app.mappings_api import scoped_to_pair
from app.params import BadParameter, answers_bad_parameters, comment_field, json_body, version_field
from tasks import flow_switches, pairs
from tasks.errors import MappingError, PipelineError
from tasks.mapping import table_checks, table_rows, table_versions
from tasks.mapping.versions import NothingToPublish, StaleVersion, Version, pair_mappings_dir
from tasks.routing import EPICOR_EVENT_FLOWS, EVENT_FLOWS
from tasks.settings import ConfigError

log = logging.getLogger(__name__)
bp = Blueprint("tables_api", __name__, url_prefix="/api")
answers_bad_parameters(bp)
MAX_COMMENT = 1000
MAX_CSV = 500_000
MAX_CODE_TEXT = 200
_local = threading.local()  # each web thread's Epicor connectors of the pairs other than the default
scoped_to_pair(bp, applies=lambda path: path.startswith("/api/tables"))  # the flows' switches are deployment-wide


@bp.errorhandler(redis.RedisError)
def _redis_away(_exc: redis.RedisError) -> tuple[Response, int]:
    return jsonify({"error": "the table store (Redis) is unavailable; try again"}), 503


@bp.errorhandler(table_rows.RowProblem)
def _rows_refused(exc: table_rows.RowProblem) -> tuple[Response, int]:
    return jsonify({"error": "the table is refused", "problems": exc.problems}), 422


@bp.errorhandler(MappingError)
def _table_refused(exc: MappingError) -> tuple[Response, int]:
    if isinstance(exc, StaleVersion):
        return jsonify({"error": exc.message, "current": exc.current}), 409
    if isinstance(exc, NothingToPublish):
        return jsonify({"error": exc.message}), 409
    if exc.reason == "mapping.unknown":
        return jsonify({"error": exc.message}), 404
    return jsonify({"error": exc.message}), 400


# -- reading the request -----------------------------------------------------------------------------
def version_number(found: dict[str, Any], name: str, *, required: bool) -> int | None:
    return version_field(found, name, required=required, first="the file as deployed")


def rows_field(found: dict[str, Any]) -> list[dict[str, Any]]:
    rows = found.get("rows")
    if not isinstance(rows, list) or len(rows) > table_rows.MAX_ROWS:
        raise BadParameter(f"rows must be a list of at most {table_rows.MAX_ROWS} {{key, value}} objects")
    return rows


def table_name(name: str) -> str:
    table_versions.check_name(name)  # MappingError (mapping.unknown): 404
    return name


def mappings_dir() -> str:
    """The directory of the request's pair: its tables as deployed (version 1)."""
    return str(pair_mappings_dir())


def epicor_client() -> Any:
    """The Epicor connector of the request's pair, one per web thread and pair (its HTTP pool reused between
    keystrokes): a code is checked in the company the pair posts to."""
    pair = pairs.current.get()
    if pair == pairs.DEFAULT:
        return table_checks.epicor_client()
    clients = getattr(_local, "epicor", None)
    if clients is None:
        clients = _local.epicor = {}
    if pair not in clients:
        from tasks.connectors.epicor import EpicorClient

        clients[pair] = EpicorClient(pairs.settings_for(pair))
    return clients[pair]


# -- tables ------------------------------------------------------------------------------------------
def version_json(name: str, version: Version) -> dict[str, Any]:
    return {"table": name, **version.summary(), "rows": table_rows.rows_of(version.text), "text": version.text,
            "diff": version.diff}


@bp.get("/tables")
def tables() -> tuple[Response, int]:
    return jsonify({"tables": table_versions.catalogue(mappings_dir())}), 200


@bp.get("/tables/<name>")
def table(name: str) -> tuple[Response, int]:
    raw = request.args.get("version")
    if raw is not None and not (raw.isdigit() and 0 < len(raw) < 10):
        raise BadParameter("version must be a version number")
    versions = table_versions.history_of(table_name(name), mappings_dir())
    shown = versions[-1] if raw is None else next((v for v in versions if v.version == int(raw)), None)
    if shown is None:
        return jsonify({"error": f"{name} has no version {raw}"}), 404
    return jsonify({**version_json(name, shown), "current": versions[-1].version,
                    "versions": [v.summary() for v in reversed(versions)]}), 200


@bp.get("/tables/<name>/csv")
def table_csv(name: str) -> Response:
    current = table_versions.current(table_name(name), mappings_dir())
    answer = Response(table_rows.csv_of(table_rows.rows_of(current.text)), mimetype="text/csv")
    stem = name.removesuffix(".yaml")
    answer.headers["Content-Disposition"] = f'attachment; filename="{stem}-v{current.version}.csv"'
    return answer


@bp.post("/tables/<name>/check")
@require_role("admin")
def check(name: str) -> tuple[Response, int]:
    """Is the code of one row in Epicor (as it is typed)? A verdict, 200 whatever Epicor answers."""
    found = json_body()
    key, value, reason_type = (found.get(field, "") for field in ("key", "value", "reason_type"))
    if not all(isinstance(text, str) and len(text) <= MAX_CODE_TEXT for text in (key, value, reason_type)):
        raise BadParameter(f"key, value and reason_type must be text of at most {MAX_CODE_TEXT} characters")
    table_name(name)
    try:
        epicor = epicor_client()
    except (PipelineError, ConfigError, ValueError) as exc:
        log.warning("table check: no Epicor connector (%s)", type(exc).__name__)
        return jsonify({"checked": True, "ok": None, "message": "not checked: Epicor is not configured"}), 200
    return jsonify(table_checks.check(name, key.strip(), value, reason_type=reason_type.strip() or "A",
                                      epicor=epicor)), 200


def refused_rows(name: str, text: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return table_rows.problems_by_row(table_versions.problems_of(name, text), rows)


@bp.post("/tables/<name>/publish")
@require_role("admin")
def publish(name: str) -> tuple[Response, int]:
    found = json_body()
    rows, comment = rows_field(found), comment_field(found, MAX_COMMENT)
    base_version = version_number(found, "base_version", required=True)
    edited = table_versions.version_of(table_name(name), base_version or 1, mappings_dir())
    text = table_rows.text_of(rows, edited.text if edited else "")
    problems = refused_rows(name, text, rows)
    if problems:
        return jsonify({"error": f"{name} is refused", "problems": problems}), 422
    made = table_versions.publish(name, text, who=operator_name(), comment=comment, mappings_dir=mappings_dir(),
                                  base_version=base_version)
    return jsonify({"table": name, **made.summary(), "diff": made.diff}), 201


@bp.post("/tables/<name>/restore")
@require_role("admin")
def restore(name: str) -> tuple[Response, int]:
    found = json_body()
    made = table_versions.restore(table_name(name), version_number(found, "version", required=True) or 1,
                                  who=operator_name(), comment=comment_field(found, MAX_COMMENT),
                                  mappings_dir=mappings_dir(),
                                  base_version=version_number(found, "base_version", required=False))
    return jsonify({"table": name, **made.summary(), "diff": made.diff}), 201


@bp.post("/tables/<name>/import")
@require_role("admin")
def import_csv(name: str) -> tuple[Response, int]:
    """A CSV's rows, validated as a table: 200 with the rows (a draft, nothing applied) or 422 by line.
    ``?verdict=1`` (the console) answers a refusal as a 200 with ``ok: false``: an expected refusal is then
    not a failed request in the browser's log."""
    text = request.get_data(as_text=True) if request.mimetype == "text/csv" else None
    if text is None:
        text = json_body().get("csv")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CSV:
        raise BadParameter(f"send the CSV as text/csv, or as {{\"csv\": text}}, of at most {MAX_CSV} characters")
    current = table_versions.current(table_name(name), mappings_dir())
    status = 200 if request.args.get("verdict") == "1" else 422
    try:
        rows, lines = table_rows.rows_from_csv(text)
    except table_rows.RowProblem as exc:  # numbered by the CSV's lines already
        return csv_refused([{**problem, "line": problem["row"]} for problem in exc.problems], status)
    try:
        made = table_rows.text_of(rows, current.text)
    except table_rows.RowProblem as exc:
        return csv_refused(on_lines(exc.problems, lines), status)
    problems = refused_rows(name, made, rows)
    if problems:
        return csv_refused(on_lines(problems, lines), status)
    return jsonify({"ok": True, "table": name, "base_version": current.version, "rows": table_rows.rows_of(made)}), 200


def csv_refused(problems: list[dict[str, Any]], status: int) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": "the CSV is refused", "problems": problems}), status


def on_lines(problems: list[dict[str, Any]], lines: list[int]) -> list[dict[str, Any]]:
    """Row numbers as the CSV's line numbers (the header is line 1; 0 stays: the table as a whole)."""
    return [{**problem, "line": lines[problem["row"] - 1] if problem["row"] else 0} for problem in problems]


# -- flows -------------------------------------------------------------------------------------------
def flow_names() -> list[str]:
    """Every flow the routing tables name, in their order."""
    return list(dict.fromkeys([*EVENT_FLOWS.values(), *(f for f in EPICOR_EVENT_FLOWS.values() if f)]))


@bp.get("/flows")
def flows() -> tuple[Response, int]:
    from app.console.views.flows import flow_rows

    return jsonify({"flows": flow_rows()}), 200


@bp.post("/flows/<flow>/switch")
@require_role("admin")
def switch(flow: str) -> tuple[Response, int]:
    if flow not in flow_names():
        return jsonify({"error": f"there is no flow {flow!r}"}), 404
    found = json_body()
    if not isinstance(found.get("on"), bool):
        raise BadParameter("on is required: true to switch the flow on, false to switch it off")
    made = flow_switches.switch(flow, on=found["on"], who=operator_name(), comment=comment_field(found, MAX_COMMENT))
    return jsonify(made), 200
