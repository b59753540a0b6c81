"""Payout reports and the Overview with several integration pairs: ``/api/payouts?pair=``, a report's JSON
and CSV by ``?pair=``, the console's Payouts list (pair column and filter, links that keep the pair) and a
report's page, and the Overview's pair filter (each pair's Epicor limit, a pair's dead letters)."""

from __future__ import annotations

import pytest

from tasks.flows.payout_reconciliation import save_report
from tasks.mapping.payouts import build_report
from tasks.pairs import working_for
from tests.web.test_console_api import as_user
from tests.web.test_console_auth import log_in
from tests.web.test_pair_receivers import pairs_file  # noqa: F401 - the autouse fixture: pairs default and emea
from tests.web.test_payouts_api import PAYOUT, TXNS


def stored(payout_id: str, arrival: int) -> None:
    save_report(build_report({**PAYOUT, "id": payout_id, "arrival_date": arrival}, TXNS, {}, arrival + 60.0))


@pytest.fixture()
def reports(redis_db):
    stored("po_default", 1764201600)
    with working_for("emea"):
        stored("po_emea", 1764288000)


@pytest.fixture()
def browser(app):
    operator = as_user(app, "operator")
    operator.environ_base.pop("HTTP_AUTHORIZATION")  # pages need the session: log in as a browser does
    log_in(operator, "operator-test")
    return operator


def test_the_api_lists_every_pairs_payouts_or_one_pairs(client, reports):
    every = client.get("/api/payouts").get_json()["payouts"]
    assert [(report["payout"], report["pair"]) for report in every] == [("po_emea", "emea"), ("po_default", "default")]
    assert [report["payout"] for report in client.get("/api/payouts?pair=emea").get_json()["payouts"]] == ["po_emea"]
    assert [report["payout"] for report in client.get("/api/payouts?pair=default").get_json()["payouts"]] == [
        "po_default"]
    refused = client.get("/api/payouts?pair=apac")
    assert refused.status_code == 400 and "pair must be one of default, emea" in refused.get_json()["error"]


def test_a_pairs_report_is_served_by_its_pair(client, reports):
    assert client.get("/api/payouts/po_emea?pair=emea").get_json()["payout"] == "po_emea"
    assert client.get("/api/payouts/po_emea").status_code == 404  # not the default pair's
    assert client.get("/api/payouts/po_emea.csv?pair=emea").status_code == 200
    assert client.get("/api/payouts/po_emea?pair=apac").status_code == 404


def test_the_payouts_page_has_a_pair_column_and_filter_and_links_keep_the_pair(browser, reports):
    page = browser.get("/console/payouts").get_data(as_text=True)
    assert '<select name="pair">' in page and '<th scope="col">Pair</th>' in page
    assert 'href="/console/payouts/po_emea?pair=emea"' in page and 'href="/console/payouts/po_default"' in page
    assert 'href="/api/payouts/po_emea.csv?pair=emea"' in page
    only = browser.get("/console/payouts?pair=default").get_data(as_text=True)
    assert "po_default" in only and "po_emea" not in only
    report = browser.get("/console/payouts/po_emea?pair=emea")
    assert report.status_code == 200
    text = report.get_data(as_text=True)
    assert "Integration pair <strong>emea</strong>" in text and "/api/payouts/po_emea.csv?pair=emea" in text
    assert browser.get("/console/payouts/po_emea").status_code == 404


def test_the_overview_filters_by_pair(browser, redis_db):
    from tasks import dlq

    dlq.dead_letter(event={"id": "emea:evt_1", "type": "charge.succeeded", "flow": "order_to_cash", "pair": "emea",
                           "object_id": "ch_1"}, stage="post", stage_input={}, attempts=1,
                    error={"error_class": "EpicorError", "reason": "epicor.business_rule", "message": "held"},
                    failure_id="f-emea")
    every = browser.get("/console/").get_data(as_text=True)
    assert '<select name="pair">' in every
    assert 'data-tile="Epicor limit (default)"' in every and 'data-tile="Epicor limit (emea)"' in every
    assert "every integration pair's together" in every
    emea = browser.get("/console/?pair=emea").get_data(as_text=True)
    assert 'data-tile="Epicor limit (emea)"' in emea and 'data-tile="Epicor limit (default)"' not in emea
    assert 'data-src="/console/overview/live?pair=emea"' in emea
    live = browser.get("/console/overview/live?pair=default").get_data(as_text=True)
    assert 'data-tile="Dead letters (default)"' in live
    assert browser.get("/console/overview/live?pair=emea").get_data(as_text=True).count(
        'href="/console/failures?pair=emea">1</a>') == 1


def test_one_pair_shows_no_filter(browser, reports, monkeypatch):
    from tasks.pairs import get_pairs

    monkeypatch.delenv("PAIRS_FILE")
    get_pairs.cache_clear()
    page = browser.get("/console/payouts").get_data(as_text=True)
    assert '<select name="pair">' not in page and '<th scope="col">Pair</th>' not in page
    overview = browser.get("/console/").get_data(as_text=True)
    assert '<select name="pair">' not in overview and 'data-tile="Epicor limit"' in overview
