"""One Flask app serving both emulators on one port.

Stripe answers under `/v1` and `/_sandbox/stripe`, Epicor under `/<instance>/api` and
`/_sandbox/epicor`, so the connector is pointed at it with `STRIPE_API_BASE=http://127.0.0.1:8100`
and `EPICOR_BASE_URL=http://127.0.0.1:8100/KineticSandbox`. State lives in SQLite files under
`data_dir` and survives restarts. The Epicor credentials default to the sandbox's own, unless the
connector's `EPICOR_*` variables are set, so one `.env` configures both sides consistently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify

from sandbox.epicor import EpicorState, make_epicor_blueprint
from sandbox.stripe_api import StripeState, make_stripe_blueprint

EPICOR_INSTANCE = "KineticSandbox"
_TRUE = {"1", "true", "yes", "on"}
_EPICOR_SETTINGS = {"company": "EPICOR_COMPANY", "username": "EPICOR_USERNAME",
                    "password": "EPICOR_PASSWORD", "api_key": "EPICOR_API_KEY"}


def create_sandbox_app(data_dir: str, env: Mapping[str, str] | None = None) -> Flask:
    """Build the sandbox app with its state in `data_dir` (created if missing)."""
    env = os.environ if env is None else env
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    app = Flask("sandbox")
    stripe_state = StripeState(str(Path(data_dir) / "stripe.sqlite3"))
    epicor_state = EpicorState(str(Path(data_dir) / "epicor.sqlite3"), **epicor_options(env))
    app.register_blueprint(make_stripe_blueprint(stripe_state))
    app.register_blueprint(make_epicor_blueprint(epicor_state, instance=EPICOR_INSTANCE))
    app.add_url_rule("/_sandbox/healthz", "sandbox_healthz", healthz)
    app.extensions["sandbox"] = {"stripe": stripe_state, "epicor": epicor_state}
    return app


def epicor_options(env: Mapping[str, str]) -> dict[str, Any]:
    """Keyword options for `EpicorState` from the environment."""
    options: dict[str, Any] = {
        name: env[variable] for name, variable in _EPICOR_SETTINGS.items() if env.get(variable)
    }
    options["strict_parts"] = env.get("SANDBOX_EPICOR_STRICT_PARTS", "").strip().lower() in _TRUE
    return options


def healthz() -> Response:
    """Liveness of the sandbox process."""
    return jsonify({"status": "ok"})
