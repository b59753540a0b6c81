"""``GET /metrics``: the whole service in one Prometheus scrape (``telemetry.exposition``).

Only serving lives here. Who may read it is decided with the console's other routes
(``METRICS_PUBLIC``: open when true, else a console user is needed). The answer merges every
receiver and worker process's figures and Redis-held gauges; it never fails for want of Redis.
"""

from __future__ import annotations

from flask import Blueprint, Response

from telemetry.exposition import exposition

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
