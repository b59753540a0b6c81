"""The history's figures per integration pair: each rollup row is one pair's, ``stats(pair=)`` reads one
pair's, and a database migrated from before pairs keeps its figures as the default pair's.

Redis is fakeredis (records through the pipeline's own store calls), the database a real SQLite file
migrated by Alembic.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from history import db, queries
from tasks import store
from tests.unit.test_history_postgres import postgres_url  # noqa: F401 - a fixture
from tests.unit.test_history_store import T0, clock, drain_all


@pytest.fixture()
def history_db(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'history.sqlite3'}")
    db.dispose_engines()
    db.migrate()
    yield db.database_url()
    db.dispose_engines()


def a_finished_payment(monkeypatch, event_id: str, pair: str, amount: int, *, state: str = "done",
                       start: float = T0) -> None:
    """One charge.succeeded event of ``pair`` received, fetched (its amount) and finished in ``state``."""
    clock(monkeypatch, start)
    store.record_event({"id": event_id, "source": "stripe", "type": "charge.succeeded", "object_id": "ch_" + event_id,
                        "flow": "order_to_cash", "pair": pair})
    clock(monkeypatch, start + 1)
    store.begin_stage(event_id, "fetch", 1)
    store.put_stage_input(event_id, "transform", {}, history=[
        {"kind": "event", "id": event_id, "amount": amount, "currency": "eur"}], amount=amount, currency="eur")
    clock(monkeypatch, start + 5)
    error = {"reason": "epicor.business_rule", "message": "no"} if state == "dead" else None
    store.update_event(event_id, state=state, stage="post", last_error=error, finished_at=start + 5)


def test_stats_of_one_pair_count_only_its_events(fake_redis, history_db, monkeypatch):
    a_finished_payment(monkeypatch, "evt_d1", "default", 1000)
    a_finished_payment(monkeypatch, "emea:evt_e1", "emea", 2500, start=T0 + 60)
    a_finished_payment(monkeypatch, "emea:evt_e2", "emea", 700, state="dead", start=T0 + 120)
    drain_all()

    emea = queries.stats("24h", now=T0 + 3600, pair="emea")
    assert emea["pair"] == "emea"
    assert emea["counts"] == {"order_to_cash": {"done": 1, "dead": 1}}
    assert emea["amounts"] == {"eur": "25.00"}
    assert emea["per_day"] == [{"day": "2026-01-01", "currency": "eur", "amount": "25.00"}]
    assert emea["latency"]["n"] == 1 and sum(m["n"] for m in emea["per_minute"]) == 2
    assert emea["epicor_errors"] == {"epicor.business_rule": 1}

    default = queries.stats("24h", now=T0 + 3600, pair="default")
    assert default["counts"] == {"order_to_cash": {"done": 1}} and default["amounts"] == {"eur": "10.00"}
    assert default["epicor_errors"] == {} and default["latency"]["n"] == 1

    together = queries.stats("24h", now=T0 + 3600)
    assert "pair" not in together
    assert together["counts"] == {"order_to_cash": {"done": 2, "dead": 1}} and together["amounts"] == {"eur": "35.00"}
    assert queries.stats("24h", now=T0 + 3600, pair="apac")["counts"] == {}


def test_a_replay_moves_the_count_within_its_own_pair(fake_redis, history_db, monkeypatch):
    a_finished_payment(monkeypatch, "emea:evt_e1", "emea", 2500, state="dead")
    drain_all()  # the dead outcome lands in one batch, the replay's done in the next (read back from the row)
    clock(monkeypatch, T0 + 100)
    store.update_event("emea:evt_e1", state="done", stage="status_update", last_error=None, finished_at=T0 + 100)
    drain_all()
    assert queries.stats("24h", now=T0 + 3600, pair="emea")["counts"] == {"order_to_cash": {"done": 1}}
    assert queries.stats("24h", now=T0 + 3600, pair="default")["counts"] == {}


def test_an_event_recorded_without_a_pair_is_the_default_pairs(fake_redis, history_db, monkeypatch):
    clock(monkeypatch, T0)
    store.record_event({"id": "evt_old", "source": "stripe", "type": "charge.succeeded", "object_id": "ch_old",
                        "flow": "order_to_cash"})
    store.update_event("evt_old", state="done", stage="post", finished_at=T0 + 1)
    drain_all()
    assert queries.stats("24h", now=T0 + 60, pair="default")["counts"] == {"order_to_cash": {"done": 1}}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path, monkeypatch):
    """An empty database of the test's own: an SQLite file, or one on the local PostgreSQL."""
    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
        return
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'old.sqlite3'}")
    db.dispose_engines()
    yield db.database_url()
    db.dispose_engines()


def test_figures_from_before_pairs_are_the_default_pairs_after_the_migration(empty_database):
    engine = db.engine()
    with engine.begin() as connection:
        command.upgrade(db.alembic_config(connection), "0003")
        connection.execute(text("INSERT INTO history_rollup_minute (minute, flow, outcome, n) "
                                "VALUES (:at, 'order_to_cash', 'done', 4)"), {"at": int(T0)})
        connection.execute(text("INSERT INTO history_rollup_amount (day, currency, flow, amount, n) "
                                "VALUES (:at, 'usd', 'order_to_cash', 9900, 4)"), {"at": int(T0)})
    db.migrate()
    figures = queries.stats("24h", now=T0 + 60, pair="default")
    assert figures["counts"] == {"order_to_cash": {"done": 4}} and figures["amounts"] == {"usd": "99.00"}
    assert queries.stats("24h", now=T0 + 60, pair="emea")["counts"] == {}
    indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("history_rollup_minute")}
    assert indexes["ix_history_rollup_minute_pair"] == ["pair", "minute"]
    with engine.begin() as connection:  # and back: the pairs' rows add up under the old key
        command.downgrade(db.alembic_config(connection), "0003")
        assert connection.execute(text("SELECT n FROM history_rollup_minute")).scalars().all() == [4]
