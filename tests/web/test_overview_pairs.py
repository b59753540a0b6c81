"""The history figures per integration pair over a real Redis and a real (SQLite) history: ``/api/stats?pair=``
and the Overview's figures, chart series and 30-day table narrowed to the chosen pair.

Events are recorded and finished with ``tasks.store`` as the pipeline does; the history gets them through
the recorder's stream and the drainer, as in production.
"""

from __future__ import annotations

import pytest

from tests.web.test_console_api import as_user, drain_history
from tests.web.test_console_auth import log_in
from tests.web.test_pair_receivers import pairs_file  # noqa: F401 - the autouse fixture: pairs default and emea


@pytest.fixture()
def browser(app):
    """An operator logged in with the session, as a browser is (pages need it)."""
    operator = as_user(app, "operator")
    operator.environ_base.pop("HTTP_AUTHORIZATION")
    log_in(operator, "operator-test")
    return operator


def a_payment(event_id: str, pair: str, amount: int, currency: str, state: str = "done") -> None:
    from tasks import store

    store.record_event({"id": event_id, "source": "stripe", "type": "charge.succeeded", "object_id": "ch_" + event_id,
                        "flow": "order_to_cash", "pair": pair})
    store.put_stage_input(event_id, "transform", {}, history=[
        {"kind": "event", "id": event_id, "amount": amount, "currency": currency}])
    store.update_event(event_id, state=state, stage="post")


@pytest.fixture()
def payments(app, redis_db):
    from app.console.views import overview

    overview.forget_stats()
    a_payment("evt_d1", "default", 1000, "usd")
    a_payment("emea:evt_e1", "emea", 4321, "eur")
    a_payment("emea:evt_e2", "emea", 99, "eur", state="dead")
    drain_history()
    yield
    overview.forget_stats()


def test_the_api_gives_one_pairs_figures_or_every_pairs(app, payments):
    viewer = as_user(app, "viewer")
    emea = viewer.get("/api/stats?pair=emea").get_json()
    assert emea["pair"] == "emea"
    assert emea["counts"] == {"order_to_cash": {"done": 1, "dead": 1}} and emea["amounts"] == {"eur": "43.21"}
    default = viewer.get("/api/stats?pair=default&window=1h").get_json()
    assert default["counts"] == {"order_to_cash": {"done": 1}} and default["amounts"] == {"usd": "10.00"}
    every = viewer.get("/api/stats").get_json()
    assert "pair" not in every and every["amounts"] == {"eur": "43.21", "usd": "10.00"}
    refused = viewer.get("/api/stats?pair=apac")
    assert refused.status_code == 400 and "pair must be one of default, emea" in refused.get_json()["error"]


def test_the_overview_narrows_its_figures_to_the_chosen_pair(browser, payments):
    emea = browser.get("/console/?pair=emea").get_data(as_text=True)
    assert 'data-currency="EUR">43.21</td>' in emea and 'data-currency="USD"' not in emea
    assert "integration pair emea's only" in emea
    assert 'data-src="/console/overview/series.json?pair=emea"' in emea
    assert 'data-src="/console/overview/tables?pair=emea"' in emea
    every = browser.get("/console/").get_data(as_text=True)
    assert 'data-currency="USD">10.00</td>' in every and 'data-currency="EUR">43.21</td>' in every
    default_tables = browser.get("/console/overview/tables?pair=default").get_data(as_text=True)
    assert "10.00" in default_tables and "43.21" not in default_tables
    series = browser.get("/console/overview/series.json?pair=emea").get_json()
    assert series["available"] and series["series"] == {"dead": series["series"]["dead"],
                                                         "done": series["series"]["done"]}
    assert sum(series["series"]["done"]) == 1 and sum(series["series"]["dead"]) == 1
    default_series = browser.get("/console/overview/series.json?pair=default").get_json()
    assert set(default_series["series"]) == {"done"} and sum(default_series["series"]["done"]) == 1
