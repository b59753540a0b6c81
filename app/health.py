"""Liveness, readiness and event status (metrics: ``app.metrics``)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from tasks.api import QueueUnavailable, configuration_faults, event_status, ping

bp = Blueprint("health", __name__)

PUBLIC_EVENT_FIELDS = ("id", "source", "type", "object_id", "flow", "state", "stage", "epicor_keys",
                       "last_error", "reason", "received_at", "queued_at", "updated_at", "finished_at",
                       "deliveries", "attempts", "api_version", "waiting_for")


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


@bp.get("/api/events/<event_id>")
def event(event_id: str) -> tuple[Response, int]:
    try:
        record = event_status(event_id)
    except QueueUnavailable:
        return jsonify({"error": "event store unavailable"}), 503
    if record is None:
        return jsonify({"error": f"event {event_id} was never received"}), 404
    return jsonify({name: record.get(name) for name in PUBLIC_EVENT_FIELDS}), 200

