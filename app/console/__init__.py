"""The operator console at ``/console/``: one Flask blueprint, server-rendered pages plus htmx.

``bp`` is defined here; ``register(app)`` (called by ``create_app``) imports every module of
``app.console.views`` automatically, then registers the blueprint, so a page is added by dropping a
module there that does ``from app.console import bp``. (Importing the views when the app is built,
not when this package is imported, lets them import ``app.auth``, which imports ``app.console.users``.)
Templates live in ``templates/console/`` and static files (our CSS and JS, vendored htmx: ``static/vendor/VENDOR.md``)
in ``static/``; both ship in the package, so the console needs no network and no build step.

Access is decided once, for every request, by ``app.auth`` (login, CSRF, roles); views only state the
least role a change needs. The console reads the history through ``history.queries`` and changes
things through ``tasks.api`` (the web's only door into ``tasks``), never the pipeline itself.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint, Flask, redirect, url_for
from werkzeug.wrappers import Response

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")


def register(app: Flask) -> None:
    from app.console import views

    for module in pkgutil.iter_modules(views.__path__):
        importlib.import_module(f"{views.__name__}.{module.name}")
    app.register_blueprint(bp)
    app.add_url_rule("/favicon.ico", "favicon", _favicon)


def _favicon() -> Response:
    """Browsers ask for /favicon.ico on pages without an icon link (the JSON API): no 404 in their console."""
    return redirect(url_for("console.static", filename="favicon.svg"), code=301)
