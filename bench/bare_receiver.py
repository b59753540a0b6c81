"""The ingest ceiling: a receiver that only verifies the signature and enqueues one no-op task.

Served by the same gunicorn command as the real receiver (``gunicorn "bench.bare_receiver:create_app()"``,
two workers, eight threads), with the same signature check (``app.signatures.verify``) and the same
broker, so the difference the ingest benchmark measures is exactly what the real receiver adds:
parsing and checking the event, recording it, deduplicating it and queueing its five-stage chain.

It is stock Flask and Celery: it imports nothing of the product beyond that signature function (the
secrets come straight from ``STRIPE_WEBHOOK_SECRET``), so none of the product's own changes to the
libraries (``tasks/broker.py``) reach it.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, jsonify, request

from app.signatures import SignatureRejected, verify
from bench.bare_chain import stage

TOLERANCE_SECONDS = 300


def create_app() -> Flask:
    bare = Flask(__name__)
    secrets = tuple(s.strip() for s in os.environ.get("STRIPE_WEBHOOK_SECRET", "").split(",") if s.strip())

    @bare.post("/webhooks/stripe")
    def stripe_webhook() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        try:
            verify(body, request.headers.get("Stripe-Signature"), secrets, TOLERANCE_SECONDS)
        except SignatureRejected as exc:
            return jsonify({"error": str(exc)}), 400
        event_id = json.loads(body).get("id")
        stage.apply_async(({"event_id": event_id},))
        return jsonify({"received": True, "event_id": event_id}), 200

    @bare.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify({"status": "alive"}), 200

    return bare
