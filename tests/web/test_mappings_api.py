"""/api/mappings: who may list, preview, publish and restore a field mapping; CSRF on the session; every
refusal a 4xx naming what is wrong (a bad mapping: file, line and field), never a 5xx.

Flask's test client against the real app and a real Redis (where published versions live)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import MAPPINGS_DIR
from tests.web.test_console_auth import as_user, csrf_of, log_in

FLOW = "order_to_cash"
ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")
DESCRIPTION_AS_PO = ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.description}")
MISTYPED = ORDER.replace("PONum: {from: charge.id}", "PONumber: {from: charge.id}")
PUBLISH = f"/api/mappings/{FLOW}/sales_order/publish"
RESTORE = f"/api/mappings/{FLOW}/sales_order/restore"


def publish(client, text=DESCRIPTION_AS_PO, base_version=1, comment="PO number from the description"):
    return client.post(PUBLISH, json={"yaml": text, "comment": comment, "base_version": base_version})


def stored_event(redis_db, event_id="evt_api_preview"):
    from tasks.mapping import shapes

    redis_db.hset(f"sec:event:{event_id}", mapping={"flow": FLOW, "type": "charge.succeeded", "state": "done"})
    redis_db.set(f"sec:stage:{event_id}:transform", json.dumps(shapes.sample_objects(FLOW)[0]))
    return event_id


def order_of(preview):
    return next(document for document in preview["documents"] if document["kind"] == "sales_order")


def test_an_admin_publishes_and_everyone_sees_the_versions(admin, app):
    made = publish(admin)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["version"] == 2 and made.get_json()["who"] == "admin-test"
    listed = as_user(app, "viewer").get("/api/mappings").get_json()["mappings"]
    order = next(entry for entry in listed if entry["document"] == "sales_order")
    assert order["current"] == 2 and order["versions"][1]["comment"] == "PO number from the description"
    shown = admin.get(f"/api/mappings/{FLOW}/sales_order?version=2").get_json()
    assert shown["text"] == DESCRIPTION_AS_PO and "+    PONum: {from: charge.description}" in shown["diff"]


def test_publish_and_restore_need_an_admin_and_preview_of_a_draft_too(operator, redis_db):
    assert publish(operator).status_code == 403
    assert operator.post(RESTORE, json={"version": 1, "comment": "x"}).status_code == 403
    event_id = stored_event(redis_db)
    draft = operator.post("/api/mappings/preview", json={"event_id": event_id, "draft": {"sales_order": ORDER}})
    assert draft.status_code == 403
    published = operator.post("/api/mappings/preview", json={"event_id": event_id})
    assert published.status_code == 200 and published.get_json()["ok"] is True


def test_a_bad_mapping_is_refused_with_file_line_and_field(admin):
    refused = publish(admin, MISTYPED)
    assert refused.status_code == 422
    line = MISTYPED.splitlines().index("    PONumber: {from: charge.id}") + 1
    assert f"documents/{FLOW}/sales_order.yaml:{line}: header.PONumber: OrderHed has no field PONumber" in \
        refused.get_json()["errors"][0]
    assert refused.get_json()["problems"][0]["line"] == line
    assert admin.get("/api/mappings").get_json()["mappings"][1]["current"] == 1


def test_a_stale_publish_is_a_409_naming_the_current_version(admin):
    assert publish(admin).status_code == 201
    stale = publish(admin, ORDER.replace("PONum: {from: charge.id}", "PONum: {from: payment_key}"), base_version=1)
    assert stale.status_code == 409 and stale.get_json()["current"] == 2


def test_restore_makes_a_new_version_with_the_old_text(admin):
    publish(admin)
    restored = admin.post(RESTORE, json={"version": 1, "comment": "back to the charge id", "base_version": 2})
    assert restored.status_code == 201 and restored.get_json()["version"] == 3
    assert admin.get(f"/api/mappings/{FLOW}/sales_order").get_json()["text"] == ORDER


def test_a_preview_shows_a_draft_s_documents_and_its_errors(admin, redis_db):
    event_id = stored_event(redis_db)
    shown = admin.post("/api/mappings/preview",
                       json={"event_id": event_id, "draft": {"sales_order": DESCRIPTION_AS_PO}})
    assert shown.status_code == 200
    body = shown.get_json()
    assert body["source"] == "stage_input" and body["versions"]["sales_order"] == "draft"
    assert order_of(body)["header"]["PONum"] == "Order 1042 from the web shop"
    assert order_of(body)["header"]["CustNum"] == "{{CustNum}}" and "CustNum" in order_of(body)["placeholders"]
    bad = admin.post("/api/mappings/preview", json={"flow": FLOW, "sample": True, "draft": {"sales_order": MISTYPED}})
    assert bad.status_code == 200 and bad.get_json()["ok"] is False
    assert bad.get_json()["errors"][0].startswith(f"documents/{FLOW}/sales_order.yaml:")


@pytest.mark.parametrize(("path", "payload", "status"), [
    (PUBLISH, {"yaml": DESCRIPTION_AS_PO, "base_version": 1}, 400),  # no comment
    (PUBLISH, {"yaml": DESCRIPTION_AS_PO, "comment": "x"}, 400),  # no base version
    (PUBLISH, {"yaml": 5, "comment": "x", "base_version": 1}, 400),
    (PUBLISH, ["not", "an", "object"], 400),
    (PUBLISH, {"yaml": ORDER, "comment": "x", "base_version": 1}, 409),  # nothing changed
    (f"/api/mappings/{FLOW}/no_such_document/publish", {"yaml": ORDER, "comment": "x", "base_version": 1}, 404),
    ("/api/mappings/../x/publish", {"yaml": ORDER, "comment": "x", "base_version": 1}, 400),
    (RESTORE, {"version": 99, "comment": "x"}, 404),
    (RESTORE, {"version": "1", "comment": "x"}, 400),
    (RESTORE, {"version": True, "comment": "x"}, 400),
    ("/api/mappings/preview", {}, 400),
    ("/api/mappings/preview", {"event_id": "evt_never"}, 404),
    ("/api/mappings/preview", {"flow": "no_such_flow"}, 400),
    ("/api/mappings/preview", {"flow": FLOW, "sample": "x"}, 400),
    ("/api/mappings/preview", {"flow": FLOW, "draft": {"sales_order": 3}}, 400),
    ("/api/mappings/preview", {"flow": FLOW, "draft": {"nothing": "kind: x"}}, 404),
    ("/api/mappings/preview", {"event_id": ["x"]}, 400),
])
def test_bad_requests_are_4xx_naming_the_problem(admin, path, payload, status):
    answer = admin.post(path, json=payload)
    assert answer.status_code == status, answer.get_data(as_text=True)
    if answer.is_json:
        assert answer.get_json()["error"]


def test_odd_samples_and_yaml_never_give_a_5xx(admin):
    for sample in ({"charge": 5}, {"charge": {"amount": "x", "currency": None}}, {"payment_key": []}):
        answer = admin.post("/api/mappings/preview", json={"flow": FLOW, "sample": sample})
        assert answer.status_code == 200 and answer.get_json()["ok"] is False
    for text in ("{", "- a\n- b", "kind: [", "\x00", "kind: sales_order\nheader: 5"):
        assert publish(admin, text).status_code == 422


def test_a_change_made_with_the_session_needs_the_csrf_token(app):
    browser = app.test_client()
    log_in(browser, "admin-test")
    assert browser.post(PUBLISH, json={"yaml": DESCRIPTION_AS_PO, "comment": "x", "base_version": 1}).status_code == 400
    token = csrf_of(browser.get("/console/failures").get_data(as_text=True))
    made = browser.post(PUBLISH, json={"yaml": DESCRIPTION_AS_PO, "comment": "x", "base_version": 1},
                        headers={"X-CSRFToken": token})
    assert made.status_code == 201
