"""Payout reconciliation reports over HTTP: ``GET /api/payouts/<id>`` (JSON) and ``<id>.csv``.

Read-only views of what the ``payout.paid`` flow stored; 404 for a payout with no report yet, 503
when Redis cannot be read.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tasks.api import QueueUnavailable, payout_report, payout_report_csv

bp = Blueprint("payouts", __name__)


@bp.get("/api/payouts/<payout_id>.csv")
def payout_csv(payout_id: str) -> Response | tuple[Response, int]:
    try:
        body = payout_report_csv(payout_id)
    except QueueUnavailable:
        return jsonify({"error": "report store unavailable"}), 503
    if body is None:
        return jsonify({"error": f"no reconciliation report for payout {payout_id}"}), 404
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{payout_id}.csv"'})


@bp.get("/api/payouts/<payout_id>")
def payout_json(payout_id: str) -> tuple[Response, int]:
    try:
        report = payout_report(payout_id)
    except QueueUnavailable:
        return jsonify({"error": "report store unavailable"}), 503
    if report is None:
        return jsonify({"error": f"no reconciliation report for payout {payout_id}"}), 404
    return jsonify(report), 200
