"""The designer, /api/mappings and /api/tables per integration pair (issue 16 point 4): a request names its
pair (query or body; default: the default pair); what it reads, publishes and restores is that pair's; an
unknown pair is a 400 naming the pairs; the console pages offer a pair select only with several pairs.

Flask's test client against the real app and a real Redis; a PAIRS_FILE with a second pair ``emea`` whose
mappings directory is its own copy."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from tests.fixtures import EMEA_PAIRS_FILE, MAPPINGS_DIR
from tests.web.test_console_auth import as_user, log_in

FLOW = "order_to_cash"
ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")
EMEA_ORDER = ORDER.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}")
PAIRS = EMEA_PAIRS_FILE


@pytest.fixture()
def two_pairs(app, monkeypatch, tmp_path):
    from tasks import pairs
    from tasks.mapping import table_versions, versions
    from tasks.settings import get_settings

    directory = tmp_path / "mappings-emea"
    shutil.copytree(MAPPINGS_DIR, directory)
    (directory / "documents" / FLOW / "sales_order.yaml").write_text(EMEA_ORDER, encoding="utf-8")
    for name, value in {"MAPPINGS_DIR": str(MAPPINGS_DIR), "EMEA_STRIPE_KEY": "sk_test_emea",
                        "EMEA_STRIPE_WHSEC": "whsec_emea", "EMEA_EPICOR_USER": "emea-user",
                        "EMEA_EPICOR_PASSWORD": "emea-pw"}.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS.format(directory=directory)), encoding="utf-8")
    monkeypatch.setenv("PAIRS_FILE", str(path))
    get_settings.cache_clear()
    pairs.get_pairs.cache_clear()
    versions.forget()
    table_versions.forget()
    yield as_user(app, "admin")
    get_settings.cache_clear()
    pairs.get_pairs.cache_clear()
    table_versions.forget()


def current_of(listed, document="sales_order"):
    return next(entry for entry in listed if entry["flow"] == FLOW and entry["document"] == document)["current"]


def test_a_mapping_published_for_a_pair_is_that_pairs_only(two_pairs):
    admin = two_pairs
    base = admin.get(f"/api/mappings/{FLOW}/sales_order?pair=emea").get_json()
    assert base["version"] == 1 and base["text"] == EMEA_ORDER  # version 1: emea's own directory
    made = admin.post(f"/api/mappings/{FLOW}/sales_order/publish", json={
        "pair": "emea", "yaml": EMEA_ORDER.replace("{from: payment_key}", "{from: charge.description}"),
        "comment": "EMEA wants the description", "base_version": 1})
    assert made.status_code == 201, made.get_json()
    assert current_of(admin.get("/api/mappings?pair=emea").get_json()["mappings"]) == 2
    assert current_of(admin.get("/api/mappings").get_json()["mappings"]) == 1
    assert admin.get(f"/api/mappings/{FLOW}/sales_order").get_json()["text"] == ORDER
    model = admin.get(f"/api/designer/{FLOW}/sales_order?pair=emea").get_json()
    assert model["version"] == 2 and "charge.description" in model["text"]
    shown = admin.post("/api/mappings/preview?pair=emea", json={"flow": FLOW}).get_json()
    order = next(document for document in shown["documents"] if document["kind"] == "sales_order")
    assert shown["versions"]["sales_order"] == 2 and not shown["errors"]
    assert order["header"]["PONum"] == "Order 1042 from the web shop"


def test_a_table_published_for_a_pair_is_that_pairs_only(two_pairs):
    admin = two_pairs
    rows = admin.get("/api/tables/parts.yaml?pair=emea").get_json()["rows"]
    rows = [{**row, "value": "EMEA-PART"} if row["key"] == "default_part" else row for row in rows]
    made = admin.post("/api/tables/parts.yaml/publish?pair=emea",
                      json={"rows": rows, "comment": "EMEA's part", "base_version": 1})
    assert made.status_code == 201, made.get_json()
    emea = admin.get("/api/tables/parts.yaml?pair=emea").get_json()
    home = admin.get("/api/tables/parts.yaml").get_json()
    assert emea["version"] == 2 and {"key": "default_part", "value": "EMEA-PART"} in emea["rows"]
    assert home["version"] == 1 and {"key": "default_part", "value": "EMEA-PART"} not in home["rows"]
    assert "EMEA-PART" in admin.get("/api/tables/parts.yaml/csv?pair=emea").get_data(as_text=True)


@pytest.mark.parametrize("url", ["/api/mappings?pair=apac", f"/api/designer/{FLOW}/sales_order?pair=apac",
                                 "/api/tables?pair=apac", "/api/tables/parts.yaml?pair=apac"])
def test_an_unknown_pair_is_a_400_naming_the_pairs(two_pairs, url):
    answer = two_pairs.get(url)
    assert answer.status_code == 400 and "pair must be one of default, emea" in answer.get_json()["error"]


def test_an_unknown_pair_in_a_body_is_a_400_and_publishes_nothing(two_pairs):
    answer = two_pairs.post(f"/api/mappings/{FLOW}/sales_order/publish",
                            json={"pair": "apac", "yaml": EMEA_ORDER, "comment": "c", "base_version": 1})
    assert answer.status_code == 400 and "pair must be one of" in answer.get_json()["error"]
    assert current_of(two_pairs.get("/api/mappings").get_json()["mappings"]) == 1


def signed_in(app):
    session = app.test_client()
    log_in(session, "admin-test")
    return session


def test_the_pages_offer_the_pairs_and_send_the_chosen_one(two_pairs, app):
    session = signed_in(app)
    page = session.get(f"/console/mappings?pair=emea&flow={FLOW}").get_data(as_text=True)
    assert 'data-pair="emea"' in page and '<select id="pair"' in page and 'value="emea" selected' in page
    tables = session.get("/console/tables?pair=emea").get_data(as_text=True)
    assert "of pair emea" in tables and "/console/tables/parts.yaml?pair=emea" in tables
    table = session.get("/console/tables/parts.yaml?pair=emea").get_data(as_text=True)
    assert 'data-pair="emea"' in table and "/api/tables/parts.yaml/csv?pair=emea" in table


def test_with_one_pair_the_pages_offer_no_pair_select(app):
    admin = signed_in(app)
    page = admin.get(f"/console/mappings?flow={FLOW}").get_data(as_text=True)
    assert 'data-pair="default"' in page and '<select id="pair"' not in page
    assert 'name="pair"' not in admin.get("/console/tables").get_data(as_text=True)
