"""The console's Overview, Payouts and Epicor → Stripe pages through Flask's test client.

The history store is replaced by a fake ``history.queries`` (fixed figures), so each test can state
exactly what the page must show; Redis is the real test database (queue depth, dead letters,
in-flight events, the connectors' liveness notes, payout reports are written there as the pipeline
writes them).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

DAY1, DAY2 = (datetime.fromtimestamp(time.time() - back * 86400, UTC).date().isoformat() for back in (5, 4))
STATS = {
    "24h": {
        "counts": {"order_to_cash": {"done": 7, "dead": 1}, "refunds": {"done": 2}},
        "latency": {"p50": 0.42, "p95": 1.75},
        "amounts": {"usd": "1234.56", "eur": "10.00"},
        "per_minute": [],
        "per_day": [],
        "epicor_errors": {"epicor.part_missing": 3, "epicor.timeout": 1},
    },
    "1h": {"counts": {"order_to_cash": {"done": 2}}, "latency": {"p50": 0.3, "p95": 0.9},
           "amounts": {"usd": "40.00"}, "per_minute": [], "per_day": [], "epicor_errors": {}},
    "30d": {
        "counts": {"epicor_customer": {"done": 5, "ignored": 2}, "epicor_sales_order": {"done": 1}},
        "latency": {"p50": 0.5, "p95": 2.0}, "amounts": {"usd": "9000.10"}, "per_minute": [],
        "per_day": [{"day": DAY1, "currency": "usd", "amount": "100.10"},
                    {"day": DAY2, "currency": "usd", "amount": "8900.00"},
                    {"day": DAY2, "currency": "eur", "amount": "5.00"}],
        "epicor_errors": {},
    },
}


class FakeHistory:
    def __init__(self) -> None:
        self.windows: list[str] = []
        self.down = False
        self.done: dict[str, list[dict]] = {}

    def stats(self, window: str = "24h", pair: str | None = None) -> dict:
        self.windows.append(window)
        if self.down:
            raise ConnectionError("database is away")
        figures = json.loads(json.dumps(STATS[window]))
        if window == "24h":
            minute = int(time.time() // 60 * 60) - 120
            figures["per_minute"] = [
                {"minute": datetime.fromtimestamp(minute, UTC).isoformat(), "outcome": "done", "n": 4},
                {"minute": datetime.fromtimestamp(minute + 60, UTC).isoformat(), "outcome": "dead", "n": 1},
            ]
        return figures

    def list_events(self, state=None, flow=None, q=None, limit=50, before=None) -> list[dict]:
        if self.down:
            raise ConnectionError("database is away")
        return [e for e in self.done.get(flow or "", []) if state in (None, e["state"])][:limit]


@pytest.fixture()
def history(monkeypatch):
    from app.console.views import overview
    from history import queries

    fake = FakeHistory()
    monkeypatch.setattr(queries, "stats", fake.stats)
    monkeypatch.setattr(queries, "list_events", fake.list_events)
    overview.forget_stats()
    yield fake
    overview.forget_stats()


@pytest.fixture()
def console(redis_db, history, monkeypatch):
    """A viewer's logged-in test client (the least role these pages need)."""
    from app.console import users
    from tasks import liveness

    line = users.user_line("vera", "viewer-password", "viewer", rounds=4)
    monkeypatch.setenv("CONSOLE_USERS", line)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-for-the-console")
    import app.console.views.overview as overview

    monkeypatch.setattr(overview, "workers_alive", lambda: ["worker-a@host"])
    liveness.forget()
    from app import create_app

    flask_app = create_app()
    flask_app.testing = True
    client = flask_app.test_client()
    with client.session_transaction() as session:
        session["user"] = "vera"
        session["fp"] = users.find("vera").fingerprint
    return client


def tile(html: str, name: str) -> str:
    start = html.rindex("<li", 0, html.index(f'data-tile="{name}"'))
    return html[start:html.index("</li>", start)]


# -- Overview ------------------------------------------------------------------------------------
def test_overview_needs_a_user(redis_db, history, monkeypatch):
    from app import create_app

    monkeypatch.setenv("SECRET_KEY", "test-secret-key-for-the-console")
    client = create_app().test_client()
    for path in ("/console/", "/console/overview/live", "/console/payouts", "/console/sync"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"], path


def test_overview_shows_the_history_figures(console, history):
    html = console.get("/console/").get_data(as_text=True)
    assert '<td class="num" data-currency="USD">1234.56</td>' in html
    assert '<td class="num" data-currency="EUR">10.00</td>' in html
    assert '<td class="num" data-total="events">10</td>' in html  # 7 + 1 + 2
    assert '<th scope="row">order_to_cash</th><td class="num">1</td><td class="num">7</td>' in html  # dead, done
    assert 'data-latency="p50">0.42<' in html and 'data-latency="p95">1.75<' in html
    assert "epicor.part_missing</th><td class=\"num\">3</td>" in html
    assert "24h" in history.windows and "30d" in history.windows


def test_thirty_days_of_amounts_per_day_and_currency(console):
    html = console.get("/console/overview/tables").get_data(as_text=True)
    assert 'data-day-total="USD">9000.10<' in html and 'data-day-total="EUR">5.00<' in html
    row = html[html.index(f'datetime="{DAY2}"'):]
    assert row.index("5.00") < row.index("8900.00") < row.index("</tr>")  # EUR column before USD
    assert "USD: 9000.10 in 30 days" in html
    assert f"{DAY2}: 8900.00 USD" in html  # the bar's text alternative
    assert html.count("<rect") == 2 * 30  # a slot per day of the 30, per currency


def test_the_live_fragment_follows_the_chosen_window(console, history):
    html = console.get("/console/overview/live?window=1h").get_data(as_text=True)
    assert 'data-currency="USD">40.00<' in html and 'data-total="events">2<' in html
    assert history.windows[-1] == "1h"
    console.get("/console/overview/live?window=1y")
    assert history.windows[-1] == "24h"  # an unknown window is the default, never an error


def test_health_tiles_read_what_redis_holds(console, redis_db):
    from tasks import dlq, liveness, store

    for n in range(3):
        redis_db.lpush("pipeline", f"message-{n}")
    redis_db.zadd(dlq.INDEX_KEY, {"evt_a": 1.0, "evt_b": 2.0})
    received = time.time() - 600
    redis_db.hset(store.key("event", "evt_slow"), mapping={"id": "evt_slow", "received_at": received})
    redis_db.zadd(store.INFLIGHT_KEY, {"evt_slow": received})
    liveness.note_success("epicor")
    liveness.note_unreachable("stripe", "APIConnectionError")
    redis_db.hset(store.key("liveness", "periodic"), "catchup.run", time.time() - 30)
    html = console.get("/console/overview/live").get_data(as_text=True)
    assert "3</span>" in tile(html, "Queue depth") and "tile-ok" in tile(html, "Queue depth")
    assert ">2</a>" in tile(html, "Dead letters") and "tile-warn" in tile(html, "Dead letters")
    assert "10 min" in tile(html, "Oldest unfinished") and "tile-warn" in tile(html, "Oldest unfinished")
    assert "reachable" in tile(html, "Epicor") and "tile-ok" in tile(html, "Epicor")
    assert "unreachable" in tile(html, "Stripe") and "tile-down" in tile(html, "Stripe")
    assert "1 answering" in tile(html, "Workers") and "worker-a@host" in tile(html, "Workers")
    assert "tile-ok" in tile(html, "Beat") and "catchup.run" in tile(html, "Beat")
    assert "tile-ok" in tile(html, "Redis") and "tile-ok" in tile(html, "Receiver")


def test_an_empty_service_says_so(console):
    html = console.get("/console/overview/live").get_data(as_text=True)
    assert "none" in tile(html, "Oldest unfinished") and "tile-ok" in tile(html, "Dead letters")
    assert "no call yet" in tile(html, "Epicor") and "no run recorded" in tile(html, "Beat")


def test_redis_away_shows_on_the_tiles_not_as_an_error(console, monkeypatch):
    import app.console.views.overview as overview

    monkeypatch.setattr(overview, "ping", lambda: False)
    response = console.get("/console/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "tile-down" in tile(html, "Redis") and "tile-unknown" in tile(html, "Dead letters")


def test_history_away_shows_a_notice_and_answers_200(console, history):
    history.down = True
    for path in ("/console/", "/console/overview/live", "/console/overview/tables", "/console/sync"):
        response = console.get(path)
        assert response.status_code == 200, path
        assert "history store cannot be read" in response.get_data(as_text=True), path
    series = console.get("/console/overview/series.json")
    assert series.status_code == 200 and series.get_json() == {"available": False}


def test_the_chart_series_holds_each_minute_of_the_last_day(console):
    payload = console.get("/console/overview/series.json").get_json()
    minutes = payload["minutes"]
    assert len(minutes) == 24 * 60 and minutes[-1] == int(time.time() // 60 * 60)
    last = int(time.time() // 60 * 60) - 120
    assert payload["series"]["done"][minutes.index(last)] == 4
    assert payload["series"]["dead"][minutes.index(last + 60)] == 1
    assert sum(payload["series"]["done"]) == 4 and sum(payload["series"]["dead"]) == 1


def test_the_page_has_no_inline_script_and_loads_its_own(console):
    response = console.get("/console/")
    html = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<script>" not in html and "<script src=" in html
    for path in ("/console/static/overview.js", "/console/static/vendor/uplot/uPlot.iife.min.js",
                 "/console/static/overview.css"):
        assert console.get(path).status_code == 200, path


# -- Payouts -------------------------------------------------------------------------------------
def _save_report(payout_id: str, *, receipt_found: bool) -> dict:
    from tasks.flows.payout_reconciliation import save_report
    from tasks.mapping.payouts import build_report, transaction_facts

    txns = [transaction_facts({"id": "txn_charge", "type": "charge", "amount": 10000, "fee": 320, "net": 9680,
                               "currency": "usd", "source": "ch_paid"}),
            transaction_facts({"id": "txn_refund", "type": "refund", "amount": -2500, "fee": 0, "net": -2500,
                               "currency": "usd", "source": "re_back"})]
    documents = {"re_back": {"kind": "credit memo", "reference": "7001", "amount": "-25.00"}}
    if receipt_found:
        documents["ch_paid"] = {"kind": "receipt", "reference": "CR1/42", "amount": "100.00"}
    payout = {"id": payout_id, "amount": 7180, "currency": "usd", "arrival_date": 1764547200}
    report = build_report(payout, txns, documents, time.time())
    save_report(report)
    return report


def test_payouts_list_shows_each_verdict(console):
    _save_report("po_good", receipt_found=True)
    _save_report("po_short", receipt_found=False)
    html = console.get("/console/payouts").get_data(as_text=True)
    good = html[html.index('data-payout="po_good"'):]
    short = html[html.index('data-payout="po_short"'):]
    assert "reconciled" in good[:good.index("</tr>")] and "71.80" in good[:good.index("</tr>")]
    assert 'class="discrepancy"' in html[:html.index('data-payout="po_short"') + 30]
    assert "mismatch" in short[:short.index("</tr>")]
    assert 'href="/api/payouts/po_short.csv"' in html


def test_a_payout_report_highlights_its_discrepancies(console):
    _save_report("po_short", receipt_found=False)
    html = console.get("/console/payouts/po_short").get_data(as_text=True)
    assert 'id="verdict">mismatch<' in html
    row = html[html.index("<td>txn_charge</td>"):]
    row = row[:row.index("</tr>")]
    assert "NO – discrepancy" in row and "no Epicor receipt or credit with ExternalID ch_paid" in row
    assert '<tr class="discrepancy">\n      <td>txn_charge</td>' in html
    assert "credit memo 7001" in html and '<td class="num">-25.00</td>' in html
    assert "Download the report as CSV" in html


def test_an_unknown_payout_is_a_404_page(console):
    response = console.get("/console/payouts/po_never")
    assert response.status_code == 404 and "No reconciliation report for payout po_never" in response.get_data(True)
    assert console.get("/console/payouts/" + "x" * 400).status_code == 404


# -- Epicor → Stripe -----------------------------------------------------------------------------
def test_sync_page_shows_synced_pending_and_failed(console, history, redis_db):
    from tasks import store

    history.done["epicor_customer"] = [{"id": "epicor-cust-1", "type": "Customer.Created", "state": "done",
                                        "object_id": "7", "epicor_keys": {"CustNum": 7, "StripeCustomer": "cus_A"},
                                        "finished_at": "2026-12-01T10:00:00+00:00"}]
    now = time.time()
    redis_db.hset(store.key("event", "epicor-order-9"), mapping={
        "id": "epicor-order-9", "flow": "epicor_sales_order", "type": "SalesOrder.Created", "state": "processing",
        "stage": "fetch", "object_id": "5009", "attempts": "2", "received_at": now,
        "last_error": json.dumps({"reason": "epicor.order_without_lines",
                                  "message": "Sales order 5009 has no lines yet"})})
    redis_db.zadd(store.INFLIGHT_KEY, {"epicor-order-9": now})
    redis_db.hset("sec:dlq:epicor-cust-2", mapping={
        "body": json.dumps({"event_type": "Customer.Updated", "flow": "epicor_customer", "object_id": "8",
                            "reason": "epicor.record_missing", "message": "Customer 8 is not in Epicor",
                            "stage_input": {"secretish": "x"}}),
        "failures": 1, "first_failed_at": now, "last_failed_at": now, "failure_id": "f1"})
    redis_db.zadd("sec:dlq:index", {"epicor-cust-2": now})
    html = console.get("/console/sync").get_data(as_text=True)
    customers = html[html.index('id="sync-epicor_customer"'):html.index('id="sync-epicor_sales_order"')]
    orders = html[html.index('id="sync-epicor_sales_order"'):]
    assert 'data-count="synced">5<' in customers and 'data-count="failed">1<' in customers
    assert "cus_A" in customers and "Customer 8 is not in Epicor" in customers and "secretish" not in html
    assert 'href="https://dashboard.stripe.com/test/customers/cus_A"' in customers  # a test key: test dashboard
    assert 'data-count="pending">1<' in orders and "Sales order 5009 has no lines yet" in orders
    assert 'data-count="synced">1<' in orders and 'data-count="pending">0<' in customers
