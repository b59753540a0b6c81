"""Payout reconciliation reports over HTTP: ``GET /api/payouts/<id>`` (JSON) and ``<id>.csv``.

Read-only views of what the ``payout.paid`` flow stored; 404 for a payout with no report yet, 503
when Redis cannot be read. ``?pair=``: the report of that integration pair (``tasks.pairs``; the default
pair's without it; 404 for a pair the deployment does not have).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, Response, jsonify, request

from tasks.api import QueueUnavailable, payout_report, payout_report_csv

T = TypeVar("T")


def of_pair(read: Callable[[], T | None]) -> T | None:
    """``read()`` as the pair ``?pair=`` names (each pair keeps its own reports); None for an unknown pair."""
    from tasks.pairs import DEFAULT, get_pairs, working_for

    pair = request.args.get("pair") or DEFAULT
    if get_pairs().get(pair) is None:
        return None
    with working_for(pair):
        return read()

bp = Blueprint("payouts", __name__)


@bp.get("/api/payouts/<payout_id>.csv")
def payout_csv(payout_id: str) -> Response | tuple[Response, int]:
    try:
        body = of_pair(lambda: payout_report_csv(payout_id))
    except QueueUnavailable:
        return jsonify({"error": "report store unavailable"}), 503
    if body is None:
        return jsonify({"error": f"no reconciliation report for payout {payout_id}"}), 404
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{payout_id}.csv"'})


@bp.get("/api/payouts/<payout_id>")
def payout_json(payout_id: str) -> tuple[Response, int]:
    try:
        report = of_pair(lambda: payout_report(payout_id))
    except QueueUnavailable:
        return jsonify({"error": "report store unavailable"}), 503
    if report is None:
        return jsonify({"error": f"no reconciliation report for payout {payout_id}"}), 404
    return jsonify(report), 200
