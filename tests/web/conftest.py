import time

import pytest
import redis

from sandbox.signing import sign_payload


@pytest.fixture()
def redis_db():
    import os

    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture()
def client(redis_db, console_users):
    """A test client that sends an operator's HTTP Basic credentials (``/api/*`` needs a console user)."""
    from app import create_app

    app = create_app()
    app.testing = True
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = basic_auth("operator-test", CONSOLE_PASSWORD)
    return test_client


CONSOLE_PASSWORD = "console-test-password"


def basic_auth(name: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


@pytest.fixture(scope="session")
def console_user_lines() -> str:
    """A viewer, an operator and an admin, hashed at bcrypt's lowest cost so tests stay fast."""
    from app.console.users import user_line

    return ",".join(user_line(f"{role}-test", CONSOLE_PASSWORD, role, rounds=4)
                    for role in ("viewer", "operator", "admin"))


@pytest.fixture()
def console_users(monkeypatch, console_user_lines):
    monkeypatch.setenv("CONSOLE_USERS", console_user_lines)
    monkeypatch.delenv("CONSOLE_USERS_FILE", raising=False)
    return console_user_lines


@pytest.fixture()
def signed():
    def make(body: bytes, secrets=("whsec_test_current",), timestamp=None, with_v0=True):
        return sign_payload(body, list(secrets), timestamp=timestamp or int(time.time()), with_v0=with_v0)

    return make


@pytest.fixture()
def app(redis_db, console_users, tmp_path, monkeypatch):
    """The whole web app (receivers, console, API) with the test's console users and a history of its own."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'history.sqlite3'}")
    from app import create_app
    from app.console import users

    users.forget_remembered()
    made = create_app()
    made.testing = True
    return made


# Clients of the API as a console user of each role (HTTP Basic), for the API tests.
@pytest.fixture()
def admin(app):
    return as_user(app, "admin")


@pytest.fixture()
def operator(app):
    return as_user(app, "operator")


@pytest.fixture()
def viewer(app):
    return as_user(app, "viewer")


def as_user(app, role: str):
    """A test client of the app as the console user of ``role`` (HTTP Basic, as scripts call the API)."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = basic_auth(f"{role}-test", CONSOLE_PASSWORD)
    return test_client
