"""/api/tables and /api/flows: who may read, check, import, publish, restore and switch; every refusal a 4xx
naming what is wrong (a refused table: the row, a refused CSV: the line), never a 5xx; the console pages of
both answer every role, with inputs only for an admin.

Flask's test client against the real app and a real Redis (where versions and switches live)."""

from __future__ import annotations

import pytest

from tests.web.test_console_auth import csrf_of, log_in

PARTS = "/api/tables/parts.yaml"


@pytest.fixture(autouse=True)
def _fresh_switches():
    from tasks import flow_switches
    from tasks.mapping import table_versions

    flow_switches.forget()
    table_versions.forget()
    yield
    flow_switches.forget()


def rows_with(client, **changes):
    rows = client.get(PARTS).get_json()["rows"]
    return [{**row, "value": changes.get(row["key"], row["value"])} for row in rows]


def publish(client, rows, base_version=1, comment="widgets by default"):
    return client.post(f"{PARTS}/publish", json={"rows": rows, "comment": comment, "base_version": base_version})


def test_everyone_reads_the_tables_and_an_admin_publishes_a_version(admin, viewer):
    listed = viewer.get("/api/tables").get_json()["tables"]
    assert [t["table"] for t in listed][:5] == ["parts.yaml", "reasons.yaml", "currencies.yaml", "countries.yaml",
                                                "terms.yaml"]
    made = publish(admin, rows_with(admin, default_part="WIDGET-100"))
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["version"] == 2 and made.get_json()["who"] == "admin-test"
    shown = viewer.get(PARTS).get_json()
    assert shown["version"] == 2 and {"key": "default_part", "value": "WIDGET-100"} in shown["rows"]
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert viewer.get(f"{PARTS}?version=1").get_json()["rows"][0]["key"] in ("products", "default_part", "sales_um")


def test_changes_need_an_admin(operator, viewer):
    rows = rows_with(operator, default_part="WIDGET-100")
    for client in (operator, viewer):
        assert publish(client, rows).status_code == 403
        assert client.post(f"{PARTS}/restore", json={"version": 1, "comment": "x"}).status_code == 403
        assert client.post(f"{PARTS}/check", json={"key": "default_part", "value": "X"}).status_code == 403
        assert client.post(f"{PARTS}/import", data="key,value\n", content_type="text/csv").status_code == 403
        assert client.post("/api/flows/refunds/switch", json={"on": False, "comment": "x"}).status_code == 403
    assert operator.get(f"{PARTS}/csv").status_code == 200


def test_a_refused_table_is_a_422_naming_the_row(admin):
    rows = rows_with(admin) + [{"key": "products.not a product", "value": "X"}, {"key": "prices.x", "value": ""}]
    refused = publish(admin, rows)
    assert refused.status_code == 422
    problems = refused.get_json()["problems"]
    assert {p["row"] for p in problems} == {len(rows) - 1, len(rows)}
    schema = publish(admin, rows_with(admin) + [{"key": "products.widget", "value": "W"}])
    assert schema.status_code == 422
    assert schema.get_json()["problems"][0]["key"] == "products.widget"
    assert "not a valid key" in schema.get_json()["problems"][0]["message"]


def test_a_stale_publish_is_a_409_with_the_current_version_and_bad_bodies_are_400s(admin):
    assert publish(admin, rows_with(admin, default_part="WIDGET-100")).status_code == 201
    stale = publish(admin, rows_with(admin, default_part="GADGET-200"), base_version=1)
    assert stale.status_code == 409 and stale.get_json()["current"] == 2
    assert publish(admin, rows_with(admin, default_part="WIDGET-100"), base_version=2).status_code == 409  # unchanged
    assert publish(admin, rows_with(admin), comment="").status_code == 400
    assert admin.post(f"{PARTS}/publish", json={"rows": "nope", "comment": "x", "base_version": 1}).status_code == 400
    assert admin.post(f"{PARTS}/publish", data="not json").status_code == 400
    assert admin.post(f"{PARTS}/publish", json={"rows": [], "comment": "x", "base_version": "1"}).status_code == 400
    assert admin.get("/api/tables/defaults.yaml").status_code == 404
    assert admin.get("/api/tables/..%2Fsecrets").status_code == 404
    assert admin.get(f"{PARTS}?version=abc").status_code == 400
    assert admin.get(f"{PARTS}?version=99").status_code == 404


def test_an_earlier_version_is_restored_as_a_new_one(admin):
    publish(admin, rows_with(admin, default_part="WIDGET-100"))
    assert admin.post(f"{PARTS}/restore", json={"version": 1, "base_version": 2}).status_code == 400  # no comment
    made = admin.post(f"{PARTS}/restore", json={"version": 1, "comment": "back", "base_version": 2})
    assert made.status_code == 201 and made.get_json()["version"] == 3
    assert {"key": "default_part", "value": "STRIPE-SALE"} in admin.get(PARTS).get_json()["rows"]
    assert admin.post(f"{PARTS}/restore", json={"version": 42, "comment": "x"}).status_code == 404


def test_csv_exports_and_imports_as_a_draft_refused_by_line(admin):
    exported = admin.get(f"{PARTS}/csv")
    assert exported.mimetype == "text/csv" and "default_part,STRIPE-SALE" in exported.get_data(as_text=True)
    changed = exported.get_data(as_text=True).replace("STRIPE-SALE", "WIDGET-100") + "products.prod_X1,GADGET-200\r\n"
    imported = admin.post(f"{PARTS}/import", data=changed, content_type="text/csv")
    assert imported.status_code == 200, imported.get_json()
    assert {"key": "products.prod_X1", "value": "GADGET-200"} in imported.get_json()["rows"]
    assert admin.get(PARTS).get_json()["version"] == 1  # a draft: nothing applied
    bad = "key,value\ndefault_part,WIDGET-100\nsales_um,EA\nproducts.oops,X\nprices.price_1\n"
    refused = admin.post(f"{PARTS}/import", data=bad, content_type="text/csv")
    assert refused.status_code == 422 and refused.get_json()["problems"][0]["row"] == 5
    schema = admin.post(f"{PARTS}/import", data=bad.replace("prices.price_1\n", ""), content_type="text/csv")
    assert schema.status_code == 422 and schema.get_json()["problems"][0]["line"] == 4
    assert admin.post(f"{PARTS}/import", json={"csv": "part;code\n"}).status_code == 422
    verdict = admin.post(f"{PARTS}/import?verdict=1", data=bad, content_type="text/csv")
    assert verdict.status_code == 200 and verdict.get_json()["ok"] is False
    assert verdict.get_json()["problems"][0]["line"] == 5
    assert admin.post(f"{PARTS}/import", json={}).status_code == 400


def test_a_check_answers_a_verdict_even_when_epicor_cannot_be_asked(admin, monkeypatch):
    from tasks.mapping import table_checks
    from tasks.settings import get_settings

    monkeypatch.setattr(table_checks, "_local", type(table_checks._local)())
    unconfigured = admin.post(f"{PARTS}/check", json={"key": "default_part", "value": "WIDGET-100"})
    assert unconfigured.status_code == 200 and "not configured" in unconfigured.get_json()["message"]
    for name, value in {"EPICOR_BASE_URL": "http://127.0.0.1:9/Epicor", "EPICOR_USERNAME": "u", "EPICOR_PASSWORD": "p",
                        "EPICOR_API_KEY": "k", "EPICOR_ALLOW_HTTP": "true", "EPICOR_TIMEOUT": "2"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        answer = admin.post(f"{PARTS}/check", json={"key": "default_part", "value": "WIDGET-100"})
    finally:
        get_settings.cache_clear()
    assert answer.status_code == 200 and answer.get_json()["ok"] is None
    assert "not checked" in answer.get_json()["message"]
    assert admin.post(f"{PARTS}/check", json={"key": "countries", "value": 5}).status_code == 400
    unchecked = admin.post("/api/tables/countries.yaml/check", json={"key": "US", "value": "USA"}).get_json()
    assert unchecked["checked"] is False


def test_flows_are_listed_and_an_admin_switches_one_off_and_on(admin, viewer):
    flows = viewer.get("/api/flows").get_json()["flows"]
    assert [stage["stage"] for stage in flows[0]["stages"]] == ["fetch", "transform", "validate", "post",
                                                                "status_update"]
    refunds = next(f for f in flows if f["flow"] == "refunds")
    assert {"type": "charge.refunded", "source": "stripe"} in refunds["event_types"]
    off = admin.post("/api/flows/refunds/switch", json={"on": False, "comment": "month-end close"})
    assert off.status_code == 200 and off.get_json()["who"] == "admin-test"
    listed = next(f for f in viewer.get("/api/flows").get_json()["flows"] if f["flow"] == "refunds")
    assert listed["switch"]["off"] is True and "switched off by admin-test" in listed["off_reason"]
    assert admin.post("/api/flows/refunds/switch", json={"on": False, "comment": ""}).status_code == 400
    assert admin.post("/api/flows/refunds/switch", json={"on": "no", "comment": "x"}).status_code == 400
    assert admin.post("/api/flows/nope/switch", json={"on": True, "comment": "x"}).status_code == 404
    assert admin.post("/api/flows/refunds/switch", json={"on": True, "comment": "close done"}).status_code == 200


def logged_in(app, role):
    session = app.test_client()
    log_in(session, f"{role}-test")
    return session


def test_the_pages_show_inputs_only_to_an_admin(app):
    admin, viewer = logged_in(app, "admin"), logged_in(app, "viewer")
    assert 'id="editor"' in admin.get("/console/tables/parts.yaml").get_data(as_text=True)
    page = viewer.get("/console/tables/parts.yaml").get_data(as_text=True)
    assert 'id="editor"' not in page and "<input" not in page.split("<main>")[1].split("</main>")[0]
    assert "default_part" in page and viewer.get("/console/tables").status_code == 200
    assert viewer.get("/console/tables/defaults.yaml").status_code == 404
    flows = viewer.get("/console/flows").get_data(as_text=True)
    assert "charge.refunded" in flows and 'class="flow-switch"' not in flows
    assert 'class="flow-switch"' in admin.get("/console/flows").get_data(as_text=True)
    assert viewer.get("/console/flows/live").status_code == 200
    assert viewer.post("/console/flows/refunds/switch", data={"on": "false", "comment": "x",
                                                              "csrf_token": csrf_of(flows)}).status_code == 403


def test_the_switch_form_needs_the_csrf_token_and_a_comment(app):
    session = logged_in(app, "admin")
    page = session.get("/console/flows").get_data(as_text=True)
    assert session.post("/console/flows/refunds/switch", data={"on": "false", "comment": "x"}).status_code == 400
    token = csrf_of(page)
    missing = session.post("/console/flows/refunds/switch", data={"on": "false", "comment": "", "csrf_token": token})
    assert missing.status_code == 400 and "a comment is required" in missing.get_data(as_text=True)
    done = session.post("/console/flows/refunds/switch", data={"on": "false", "comment": "close", "csrf_token": token})
    assert done.status_code == 303
    assert "switched off by admin-test" in session.get("/console/flows").get_data(as_text=True)


def test_redis_away_is_a_503_for_the_api_and_a_page_that_says_so(app, admin, monkeypatch):
    import redis

    from tasks import store

    def away():
        raise redis.ConnectionError("Redis is away")

    monkeypatch.setattr(store, "client", away)
    assert admin.get(PARTS).status_code == 503
    assert admin.post("/api/flows/refunds/switch", json={"on": False, "comment": "x"}).status_code == 503
    page = logged_in(app, "viewer").get("/console/flows")
    assert page.status_code == 200 and "could not be read right now" in page.get_data(as_text=True)
