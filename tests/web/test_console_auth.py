"""Who may do what: console users, login, CSRF, HTTP Basic on /api/*, roles, rate-limited failures.

Flask's test client against the real app and a real Redis (the failed-login counters live there);
users are hashed at bcrypt's lowest cost so the tests stay fast.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.conftest import CONSOLE_PASSWORD, as_user, basic_auth  # as_user: other test modules import it here

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def anonymous(app):
    return app.test_client()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(test_client, name: str, password: str = CONSOLE_PASSWORD, next_page: str = "/console/failures",
           base_url: str = "http://localhost"):
    page = test_client.get("/console/login", base_url=base_url).get_data(as_text=True)
    referer = {"Referer": f"{base_url}/console/login"}  # Flask-WTF checks it over TLS
    return test_client.post("/console/login", base_url=base_url, headers=referer, data={
        "name": name, "password": password, "next": next_page, "csrf_token": csrf_of(page)})


def test_webhooks_and_health_stay_open_while_api_console_and_metrics_need_a_user(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    webhook = anonymous.post("/webhooks/stripe", data=b"{}", content_type="application/json")
    assert webhook.status_code == 400  # refused for its missing signature, not for want of a login
    assert anonymous.get("/console/login").status_code == 200
    assert anonymous.get("/console/static/console.css").status_code == 200
    for path in ("/api/events", "/api/events/evt_1", "/api/dlq", "/api/search?q=ch_1", "/api/stats",
                 "/api/payouts", "/api/payouts/po_1", "/metrics"):
        answer = anonymous.get(path)
        assert answer.status_code == 401, path
        assert "Basic" not in answer.headers.get("WWW-Authenticate", "")  # browsers never cache Basic credentials
    assert anonymous.post("/api/dlq/evt_1/retry").status_code == 401
    page = anonymous.get("/console/failures")
    assert page.status_code == 302 and page.headers["Location"].startswith("/console/login?next=/console/failures")


def test_metrics_public_opens_only_metrics(redis_db, console_users, monkeypatch, tmp_path):
    monkeypatch.setenv("METRICS_PUBLIC", "true")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'history.sqlite3'}")
    from app import create_app

    open_client = create_app().test_client()
    assert open_client.get("/metrics").status_code == 200
    assert open_client.get("/api/dlq").status_code == 401


def test_basic_credentials_and_roles_on_the_api(app):
    assert as_user(app, "viewer").get("/api/dlq").status_code == 200
    assert as_user(app, "viewer").get("/metrics").status_code == 200
    refused = as_user(app, "viewer").post("/api/dlq/evt_none/retry")
    assert refused.status_code == 403 and "operator" in refused.get_json()["error"]
    assert as_user(app, "viewer").post("/api/dlq/evt_none/discard", json={"comment": "x"}).status_code == 403
    # an operator passes the role check (Basic needs no CSRF token) and meets the missing record
    assert as_user(app, "operator").post("/api/dlq/evt_none/retry").status_code == 404
    wrong = app.test_client()
    wrong.environ_base["HTTP_AUTHORIZATION"] = basic_auth("operator-test", "not-the-password")
    assert wrong.get("/api/dlq").status_code == 401


def test_failed_logins_are_rate_limited_per_name_and_logged_without_the_password(app, caplog):
    caplog.set_level(logging.WARNING, logger="app.auth")
    for _ in range(10):
        assert log_in(app.test_client(), "operator-test", "guess-123").status_code == 401
    assert log_in(app.test_client(), "operator-test").status_code == 429  # the right password, too late
    basic = as_user(app, "operator")
    assert basic.get("/api/dlq").status_code == 429
    assert as_user(app, "viewer").get("/api/dlq").status_code == 200  # another name is not locked out
    assert "console login failed" in caplog.text and "operator-test" in caplog.text
    assert "guess-123" not in caplog.text


def test_login_sets_a_hardened_session_cookie_and_returns_to_the_page_asked_for(app):
    browser = app.test_client()
    answer = log_in(browser, "viewer-test")
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/failures"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert browser.get("/console/failures").status_code == 200
    assert browser.get("/api/dlq").status_code == 200  # the session works on the API too
    over_tls = log_in(app.test_client(), "viewer-test", base_url="https://localhost")
    assert "Secure" in over_tls.headers["Set-Cookie"]


def test_login_refuses_a_missing_csrf_token_a_wrong_password_and_an_outside_next(app):
    browser = app.test_client()
    browser.get("/console/login")
    no_token = browser.post("/console/login", data={"name": "viewer-test", "password": CONSOLE_PASSWORD})
    assert no_token.status_code == 400
    assert log_in(browser, "viewer-test", "wrong").status_code == 401
    assert log_in(browser, "nobody", "wrong").status_code == 401
    assert log_in(browser, "viewer-test", next_page="//evil.example/").headers["Location"] == "/console/"


def test_every_change_made_with_the_session_needs_the_csrf_token(app):
    browser = app.test_client()
    log_in(browser, "operator-test")
    assert browser.post("/api/dlq/evt_none/retry").status_code == 400
    assert browser.post("/console/failures/evt_none/retry").status_code == 400
    token = csrf_of(browser.get("/console/failures").get_data(as_text=True))
    assert browser.post("/api/dlq/evt_none/retry", headers={"X-CSRFToken": token}).status_code == 404
    assert browser.post("/console/failures/evt_none/retry", headers={"X-CSRFToken": token, "HX-Request": "true"},
                        ).status_code == 200


def test_a_viewer_session_is_refused_changes(app):
    browser = app.test_client()
    log_in(browser, "viewer-test")
    token = csrf_of(browser.get("/console/failures").get_data(as_text=True))
    assert browser.post("/console/failures/evt_none/retry", headers={"X-CSRFToken": token}).status_code == 403
    assert browser.post("/api/dlq/evt_none/discard", json={"comment": "no"},
                        headers={"X-CSRFToken": token}).status_code == 403


def test_a_removed_user_or_a_changed_password_ends_the_session(app, monkeypatch, console_user_lines):
    from app.console.users import user_line

    browser = app.test_client()
    log_in(browser, "operator-test")
    assert browser.get("/api/dlq").status_code == 200
    others = [line for line in console_user_lines.split(",") if not line.startswith("operator-test:")]
    monkeypatch.setenv("CONSOLE_USERS", ",".join([*others, user_line("operator-test", "new-pass", "operator", 4)]))
    assert browser.get("/api/dlq").status_code == 401
    monkeypatch.setenv("CONSOLE_USERS", ",".join(others))
    assert log_in(app.test_client(), "operator-test", "new-pass").status_code == 401


def test_long_or_undecodable_passwords_are_refused_never_an_error(app):
    """bcrypt refuses more than 72 bytes; the console cuts there as htpasswd does, and answers 401."""
    import base64

    headers = [basic_auth("nobody", "x" * 500), basic_auth("viewer-test", "y" * 100),
               basic_auth("viewer-test", CONSOLE_PASSWORD + "z" * 2000),
               "Basic " + base64.b64encode(b"viewer-test:\xff\xfe").decode(), "Basic not-base64!"]
    for header in headers:
        refused = app.test_client()
        refused.environ_base["HTTP_AUTHORIZATION"] = header
        assert refused.get("/api/dlq").status_code == 401, header[:40]
    assert log_in(app.test_client(), "nobody", "x" * 500).status_code == 401


def test_adduser_writes_a_line_that_logs_in_and_htpasswd_y_hashes_are_accepted(tmp_path, monkeypatch):
    from app.console import users

    users_file = tmp_path / "users"
    made = subprocess.run([sys.executable, "-m", "app.console", "adduser", "ann", "operator", "--file",
                           str(users_file), "--rounds", "4"], capture_output=True, text=True, cwd=ROOT, check=True)
    password = re.search(r"password for ann: (\S+)", made.stderr).group(1)
    assert password not in users_file.read_text() and users_file.stat().st_mode & 0o077 == 0
    monkeypatch.setenv("CONSOLE_USERS_FILE", str(users_file))
    assert users.authenticate("ann", password).role == "operator"
    assert users.authenticate("ann", "wrong") is None
    y_line = users.user_line("bob", "pw-bob", "viewer", rounds=4).replace("$2b$", "$2y$", 1)
    monkeypatch.delenv("CONSOLE_USERS_FILE")
    monkeypatch.setenv("CONSOLE_USERS", y_line)
    assert users.authenticate("bob", "pw-bob").role == "viewer"


def test_a_malformed_user_list_stops_the_start(redis_db, monkeypatch):
    from app import create_app
    from tasks.settings import ConfigError

    monkeypatch.setenv("CONSOLE_USERS", "ann:$2b$04$abc:superuser")
    with pytest.raises(ConfigError, match="role"):
        create_app()


def test_console_pages_carry_a_strict_content_security_policy(app):
    browser = app.test_client()
    log_in(browser, "viewer-test")
    page = browser.get("/console/search")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    assert "<script>" not in html and 'name="csrf-token"' in html
