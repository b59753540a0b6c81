"""/api/mappings/suggest: an admin gets a document's suggestions and gives verdicts that are counted and
recorded with who; viewers and operators are refused; bad input is a 400 naming what is wrong; a session
needs the CSRF token. Flask's test client against the real app and a real Redis."""

from __future__ import annotations

import json

import pytest

from tests.web.test_console_auth import as_user, csrf_of, log_in

SUGGEST = "/api/mappings/suggest"
FEEDBACK = "/api/mappings/suggest/feedback"
VERDICT = {"flow": "order_to_cash", "document": "customer", "target": "Customer.Zip",
           "source": "charge.billing_details.address.postal_code", "accepted": True}


def candidates_of(answer, target):
    return next(s["candidates"] for s in answer["suggestions"] if s["target"] == target)


def test_an_admin_gets_a_documents_suggestions_scoped_to_its_tables(admin):
    answer = admin.post(SUGGEST, json={"flow": "order_to_cash", "document": "customer"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["tables"] == ["Customer"]
    zip_code = candidates_of(body, "Customer.Zip")
    assert zip_code and zip_code[0]["level"] in ("high", "medium", "low")
    assert {"source", "transform", "confidence", "level", "reasons"} <= set(zip_code[0])
    assert all(s["target"].startswith("Customer.") for s in body["suggestions"])


def test_named_targets_only_and_a_line_table(admin):
    body = admin.post(SUGGEST, json={"flow": "order_to_cash", "document": "sales_order",
                                     "targets": ["OrderHed.OrderDate", "OrderDtl.PartNum"]}).get_json()
    assert [s["target"] for s in body["suggestions"]] == ["OrderHed.OrderDate", "OrderDtl.PartNum"]
    order_date = candidates_of(body, "OrderHed.OrderDate")[0]
    assert order_date["source"].endswith(".created") and order_date["transform"] == "company_date"


def test_keys_seen_in_the_sites_events_are_offered(admin, redis_db):
    from tasks.mapping import shapes

    fetched = shapes.sample_objects("order_to_cash")[0]
    fetched["charge"]["metadata"] = {"customer_po": "PO-7731"}
    redis_db.hset("sec:event:evt_site_keys", mapping={"flow": "order_to_cash", "state": "done"})
    redis_db.set("sec:stage:evt_site_keys:transform", json.dumps(fetched))
    body = admin.post(SUGGEST, json={"flow": "order_to_cash", "document": "sales_order",
                                     "targets": ["OrderHed.PONum"]}).get_json()
    assert candidates_of(body, "OrderHed.PONum")[0]["source"] == "charge.metadata.customer_po"


@pytest.mark.parametrize("body, says", [
    ({"document": "customer"}, "flow"),
    ({"flow": "order_to_cash"}, "document"),
    ({"flow": "nope", "document": "customer"}, "flow must be one of"),
    ({"flow": "order_to_cash", "document": "payroll"}, "has no document"),
    ({"flow": "order_to_cash", "document": "customer", "targets": ["OrderHed.PONum"]}, "not a field"),
    ({"flow": "order_to_cash", "document": "customer", "targets": "Customer.Zip"}, "targets must be"),
    ({"flow": "order_to_cash", "document": "customer", "targets": ["Customer.NoSuchColumn"]}, "not a field"),
])
def test_bad_requests_are_400_with_the_reason(admin, body, says):
    answer = admin.post(SUGGEST, json=body)
    assert answer.status_code == 400 and says in answer.get_json()["error"]


def test_a_body_that_is_not_json_is_400(admin):
    assert admin.post(SUGGEST, data="flow=x", content_type="text/plain").status_code == 400


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_may_neither_ask_nor_give_verdicts(app, role):
    user = as_user(app, role)
    assert user.post(SUGGEST, json={"flow": "order_to_cash", "document": "customer"}).status_code == 403
    assert user.post(FEEDBACK, json=VERDICT).status_code == 403


def test_a_verdict_is_counted_recorded_with_who_and_raises_the_pair(admin, redis_db):
    made = admin.post(FEEDBACK, json=VERDICT)
    assert made.status_code == 201 and made.get_json()["tally"] == 1
    assert redis_db.hget("sec:assist:verdicts:Customer.Zip", VERDICT["source"]) == "1"
    recorded = [json.loads(fields["r"]) for _id, fields in redis_db.xrange("sec:history")]
    action = next(r for r in recorded if r["kind"] == "operator_action")
    assert action["who"] == "admin-test" and action["action"] == "mapping.suggestion.accepted"
    assert action["target"] == "order_to_cash/customer:Customer.Zip" and action["at"]
    body = admin.post(SUGGEST, json={"flow": "order_to_cash", "document": "customer",
                                     "targets": ["Customer.Zip"]}).get_json()
    best = candidates_of(body, "Customer.Zip")[0]
    assert best["source"] == VERDICT["source"] and "accepted at this site before" in best["reasons"]


@pytest.mark.parametrize("change, says", [
    ({"accepted": "yes"}, "accepted"), ({"target": ""}, "target"), ({"source": None}, "source"),
    ({"document": "payroll"}, "has no document"),
])
def test_bad_verdicts_are_400(admin, change, says):
    answer = admin.post(FEEDBACK, json={**VERDICT, **change})
    assert answer.status_code == 400 and says in answer.get_json()["error"]


def test_a_verdict_with_the_session_needs_the_csrf_token(app):
    browser = app.test_client()
    log_in(browser, "admin-test")
    assert browser.post(FEEDBACK, json=VERDICT).status_code == 400
    token = csrf_of(browser.get("/console/failures").get_data(as_text=True))
    assert browser.post(FEEDBACK, json=VERDICT, headers={"X-CSRFToken": token}).status_code == 201
