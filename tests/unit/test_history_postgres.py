"""The history store on a real PostgreSQL (``HISTORY_TEST_POSTGRES``, default the local server).

A database of the test's own is created and dropped. The outage is simulated by pointing the
drainer at a port where nothing listens, then back: stopping the shared server would break the other
users of this machine, and what the drainer sees is the same (a connection refused).
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from sqlalchemy import create_engine, text

from history import db, drainer, queries, recorder
from tests.unit.test_history_store import T0, a_paid_payment, drain_all

SERVER = os.environ.get("HISTORY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _admin():
    return create_engine(SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture()
def postgres_url(monkeypatch):
    admin = _admin()
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any reason the server does not answer
        pytest.skip(f"PostgreSQL at {SERVER.split('@')[-1]} does not answer ({type(exc).__name__})")
    name = f"history_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = SERVER.rsplit("/", 1)[0] + "/" + name
    monkeypatch.setenv("DATABASE_URL", url)
    db.dispose_engines()
    yield url
    db.dispose_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def a_port_nobody_listens_on() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_migrations_apply_and_are_idempotent(postgres_url):
    db.migrate()
    db.migrate()
    with db.engine().connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"


def test_a_payment_lands_and_is_found_on_postgres(fake_redis, postgres_url, monkeypatch):
    a_paid_payment(monkeypatch)
    drain_all()
    assert [e["id"] for e in queries.search("ch_1")["events"]] == ["evt_1"]
    assert [e["id"] for e in queries.search("5001")["events"]] == ["evt_1"]
    detail = queries.event_detail("evt_1")
    assert detail["state"] == "done" and len(detail["documents"]) == 4 and len(detail["timeline"]) == 4
    assert queries.stats("24h", now=T0 + 60)["amounts"] == {"usd": "123.45"}


def test_nothing_is_lost_while_postgres_is_unreachable(fake_redis, postgres_url, monkeypatch):
    db.migrate()
    a_paid_payment(monkeypatch)
    waiting = fake_redis.xlen(recorder.STREAM)
    away = postgres_url.replace(":5432/", f":{a_port_nobody_listens_on()}/")
    with pytest.raises(Exception):  # noqa: B017 - a refused connection, whatever its class
        drainer.drain(url=away)
    assert fake_redis.xlen(recorder.STREAM) == waiting
    a_paid_payment(monkeypatch, "evt_2", "ch_2", start=T0 + 60)  # the pipeline goes on meanwhile
    assert drain_all(postgres_url) == waiting * 2
    assert fake_redis.xlen(recorder.STREAM) == 0
    assert queries.stats("24h", now=T0 + 600)["counts"] == {"order_to_cash": {"done": 2}}
