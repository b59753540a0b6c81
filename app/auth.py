"""Who may do what: console users, the login session, CSRF, HTTP Basic on ``/api/*`` and roles.

One ``before_request`` guard decides, for every request, before any view runs:

- ``/webhooks/*``, ``/healthz`` and ``/readyz`` stay open (webhooks carry their own signatures), and
  so do the console's login page, its static files and the favicon.
- ``/console/*``, ``/api/*`` and ``/metrics`` need a console user (``app.console.users``): the login
  session, or, on ``/api/*`` and ``/metrics`` only, HTTP Basic with a console user's credentials
  (curl and Prometheus). ``METRICS_PUBLIC=true`` opens ``/metrics`` to scrapers without credentials.
- Every change (any method but GET/HEAD/OPTIONS) made with the session cookie carries a CSRF token
  (Flask-WTF: a form field, or the ``X-CSRFToken`` header htmx sends from the page's meta tag), the
  login form included. HTTP Basic requests need none: we never answer with a ``Basic`` challenge, so
  a browser never learns and replays those credentials on a forged cross-site request.
- Roles are ordered ``viewer < operator < admin``; a view states the least role it needs
  (``require_role``); a lower role gets 403.
- Failed logins (form or Basic) are counted in Redis per name and per client address for 15 minutes:
  past 10 per name or 50 per address the answer is 429 without checking the password. Each failure is
  logged with the name and address (never the password) and recorded in the history.

Cookies are HttpOnly and SameSite=Lax, and Secure when the request came over TLS. Behind a TLS proxy,
gunicorn sets the scheme from ``X-Forwarded-Proto`` only for proxies listed in ``FORWARDED_ALLOW_IPS``
(default 127.0.0.1), so a client cannot fake it; ``SESSION_COOKIE_SECURE=true`` forces the flag.
The session is signed with ``SECRET_KEY`` (or ``SECRET_KEY_FILE``); without one, a random key is made
once and kept in ``.run/secret_key`` (mode 0600), which every process on this host shares. Several
hosts must be given the same ``SECRET_KEY``. When neither is possible the receiver refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, g, jsonify, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from app.console import users
from app.console.users import ConsoleUser
from tasks.api import failed_logins, note_failed_login
from tasks.settings import REPO_ROOT, ConfigError, env_bool, env_value

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/console/login", "/favicon.ico"})
OPEN_PREFIXES = ("/webhooks/", "/console/static/")
MAX_FAILURES_PER_NAME = 10
MAX_FAILURES_PER_ADDRESS = 50
SECRET_KEY_PATH = REPO_ROOT / ".run" / "secret_key"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
                           "form-action 'self'")

View = TypeVar("View", bound=Callable[..., Any])


class _TlsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request itself came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask) -> None:
    users.configured_users()  # a malformed CONSOLE_USERS fails the start, not a request
    app.config.update(
        SECRET_KEY=secret_key(), SESSION_COOKIE_NAME="sec_console", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=env_bool("SESSION_COOKIE_SECURE", False),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # the guard decides where CSRF applies; a token lives as long as the session it belongs to
        WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
        METRICS_PUBLIC=env_bool("METRICS_PUBLIC", False))
    app.session_interface = _TlsAwareSessions()
    csrf.init_app(app)
    app.before_request(guard)
    app.after_request(security_headers)
    app.context_processor(lambda: {"console_user": current_user()})
    app.register_blueprint(bp)


def secret_key() -> str:
    configured = env_value("SECRET_KEY")
    if configured:
        return configured
    try:
        return _persisted_key(SECRET_KEY_PATH)
    except OSError as exc:
        raise ConfigError(f"SECRET_KEY is not set and {SECRET_KEY_PATH} cannot be written ({exc.strerror}); "
                          "set SECRET_KEY (or SECRET_KEY_FILE)") from None


def _persisted_key(path: Path) -> str:
    """This host's key: made once (exclusive create, so concurrent workers agree), then read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return _read_key(path)


def _read_key(path: Path) -> str:
    for _ in range(50):  # another worker may be between creating and writing it
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        time.sleep(0.02)
    raise ConfigError(f"{path} is empty; delete it or set SECRET_KEY")


# -- the guard -------------------------------------------------------------------------------------
def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _is_protected(path: str) -> bool:
    return path == "/console" or path.startswith(("/console/", "/api/")) or path == "/metrics"


def guard() -> BaseResponse | tuple[Response, int] | None:
    path = request.path
    unsafe = request.method not in SAFE_METHODS
    if _is_open(path) or not _is_protected(path):
        if unsafe and path.startswith("/console/"):
            csrf.protect()  # the login form too: no logging a victim into an attacker's account
        return None
    if path == "/metrics" and _metrics_public():
        return None
    user = _session_user()
    if user is None and (path.startswith("/api/") or path == "/metrics") and request.authorization:
        return _basic_login(path)
    if user is None:
        return _refuse(path)
    g.console_user = user
    if unsafe:
        csrf.protect()
    return None


def _metrics_public() -> bool:
    from flask import current_app

    return bool(current_app.config.get("METRICS_PUBLIC"))


def _session_user() -> ConsoleUser | None:
    name = session.get("user")
    if not isinstance(name, str):
        return None
    user = users.find(name)
    if user is None or session.get("fp") != user.fingerprint:
        session.clear()  # removed, or the password changed: the old session ends
        return None
    return user


def _basic_login(path: str) -> BaseResponse | tuple[Response, int] | None:
    credentials = _basic_credentials()
    if credentials is None:
        return _refuse(path)
    name, password = credentials
    user = _checked_login(name, password)
    if isinstance(user, tuple):
        return user
    g.console_user = user
    return None


def _basic_credentials() -> tuple[str, str] | None:
    """Name and password of an ``Authorization: Basic`` header; None if it is another scheme or malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon and name else None


def _checked_login(name: str, password: str) -> ConsoleUser | tuple[Response, int]:
    """The user, or the answer to give: 429 while rate-limited, 401 for wrong credentials."""
    subjects = (f"user:{name[:64]}", f"ip:{request.remote_addr or '-'}")
    if _rate_limited(subjects):
        log.warning("console login refused: too many failures (user %r from %s)", name[:64], request.remote_addr)
        return jsonify({"error": "too many failed logins; wait 15 minutes"}), 429
    user = users.authenticate(name, password) if len(password) <= 1024 else None
    if user is None:
        _note_failure(name, subjects)
        return jsonify({"error": "unknown user or wrong password"}), 401
    return user


def _rate_limited(subjects: tuple[str, str]) -> bool:
    return (failed_logins(subjects[0]) >= MAX_FAILURES_PER_NAME
            or failed_logins(subjects[1]) >= MAX_FAILURES_PER_ADDRESS)


def _note_failure(name: str, subjects: tuple[str, ...]) -> None:
    note_failed_login(*subjects)
    log.warning("console login failed (user %r from %s)", name[:64], request.remote_addr)
    record_action(who=name[:64], action="login_failed", target=request.remote_addr or "-", result="refused")


def _refuse(path: str) -> BaseResponse | tuple[Response, int]:
    if path.startswith("/console"):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return jsonify({"error": "a console user is needed: log in, or send HTTP Basic credentials"}), 401


def current_user() -> ConsoleUser | None:
    return cast("ConsoleUser | None", g.get("console_user"))


def require_role(role: str) -> Callable[[View], View]:
    """Refuse (403) a user whose role is below ``role``; the guard has already required a user."""
    def decorate(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None or not user.may(role):
                return forbidden(role)
            return view(*args, **kwargs)
        return cast("View", checked)
    return decorate


def forbidden(role: str) -> tuple[Response | str, int]:
    message = f"this needs the {role} role"
    if request.path.startswith("/api/") or request.headers.get("HX-Request"):
        return jsonify({"error": message}), 403
    return render_template("console/forbidden.html", message=message), 403


def security_headers(response: Response) -> Response:
    if request.path.startswith(("/console", "/api/")):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/console/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def record_action(*, who: str, action: str, target: str, comment: str = "", result: str = "ok") -> None:
    """An operator action into the history (``history.recorder``, cheap and never raising)."""
    try:
        from history.recorder import record
    except ImportError:
        log.info("operator action %s on %s by %s (no history store)", action, target, who)
        return
    record("operator_action", who=who, action=action, target=target, comment=comment, result=result)


# -- login and logout ------------------------------------------------------------------------------
@bp.route("/console/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    target = _safe_next(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("console/login.html", next=target, error=None)
    name, password = request.form.get("name", "").strip(), request.form.get("password", "")
    outcome = _checked_login(name, password)
    if isinstance(outcome, tuple):
        error = "Too many failed logins; wait 15 minutes." if outcome[1] == 429 else "Unknown user or wrong password."
        return render_template("console/login.html", next=target, error=error), outcome[1]
    session.clear()
    session.permanent = True
    session.update(user=outcome.name, fp=outcome.fingerprint)
    record_action(who=outcome.name, action="login", target="console")
    return redirect(target)


@bp.post("/console/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("auth.login"))


def _safe_next(target: str) -> str:
    """Only a path inside the console: never another site (``//evil``) after logging in."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"
