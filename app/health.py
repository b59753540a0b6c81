"""Liveness and readiness (metrics: ``app.metrics``; an event's status: ``GET /api/events/<id>``, ``app.api``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tasks.api import configuration_faults, ping

bp = Blueprint("health", __name__)

@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "alive"}), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when Redis answers and no process has a configuration it cannot run with: the web's own
    environment, and any worker or beat that refused to start (``tasks.preflight``). Webhooks are
    still acknowledged and queued while not ready; the reason tells the operator what to fix."""
    if not ping():
        return jsonify({"status": "not ready", "redis": "unreachable"}), 503
    faults = configuration_faults()
    if faults:
        return jsonify({"status": "not ready", "redis": "reachable", "configuration": faults}), 503
    return jsonify({"status": "ready", "redis": "reachable"}), 200

