"""/api/designer and /console/mappings: only an admin opens the mapping designer or reads what it needs;
an edit changes one field of the YAML text and keeps every other line and comment; samples list the flow's
dead letters; what an event posted is its post stage's documents; bad input is a 4xx naming the problem.

Flask's test client against the real app and a real Redis (published versions, events, dead letters)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures import MAPPINGS_DIR
from tests.web.test_console_auth import as_user, log_in

FLOW = "order_to_cash"
ORDER = (MAPPINGS_DIR / "documents" / FLOW / "sales_order.yaml").read_text(encoding="utf-8")


def stored_event(redis_db, event_id="evt_designer_1"):
    from tasks.mapping import shapes

    redis_db.hset(f"sec:event:{event_id}", mapping={"flow": FLOW, "type": "charge.succeeded", "state": "done"})
    redis_db.set(f"sec:stage:{event_id}:transform", json.dumps(shapes.sample_objects(FLOW)[0]))
    return event_id


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_are_refused_the_page_and_its_api(app, role):
    client = as_user(app, role)
    for path in (f"/api/designer/{FLOW}/sales_order", f"/api/designer/{FLOW}/samples", f"/api/designer/{FLOW}/sources",
                 "/api/designer/events/evt_1/posted"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert answer.get_json() == {"error": "this needs the admin role"}
    assert client.post("/api/designer/edit", json={"yaml": ORDER, "section": "header", "field": "PONum",
                                                   "spec": {"from": "charge.description"}}).status_code == 403


def test_the_page_is_refused_to_an_operator_and_shown_to_an_admin_with_its_nav_link(app):
    operator = app.test_client()
    log_in(operator, "operator-test", next_page="/console/")
    refused = operator.get("/console/mappings")
    assert refused.status_code == 403 and "Not allowed" in refused.get_data(as_text=True)
    assert 'href="/console/mappings"' not in operator.get("/console/").get_data(as_text=True)
    admin = app.test_client()
    log_in(admin, "admin-test", next_page="/console/")
    page = admin.get("/console/mappings?flow=refunds&document=credit_memo")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "designer.js" in html and 'href="/console/mappings"' in html
    assert 'data-flow="refunds"' in html and 'data-document="credit_memo"' in html


def test_the_model_lists_the_targets_with_their_type_length_required_and_current_source(admin):
    model = admin.get(f"/api/designer/{FLOW}/sales_order").get_json()
    assert model["version"] == 1 and model["text"] == ORDER and model["builders"] == ["sale", "order_comment"]
    header = next(section for section in model["sections"] if section["section"] == "header")
    assert header["table"] == "OrderHed"
    po = next(target for target in header["targets"] if target["field"] == "PONum")
    assert po == {"field": "PONum", "label": "Customer PO number", "type": "string", "length": 50, "required": False,
                  "listed": True, "spec": {"from": "charge.id"}}
    key = next(target for target in header["targets"] if target["field"] == "IntExternalKey")
    assert key["required"] and key["spec"] == {"from": "payment_key", "required": True}
    lines = next(section for section in model["sections"] if section["section"] == "lines")
    assert lines["table"] == "OrderDtl" and lines["each"] == "sale.lines"
    truncate = next(t for t in model["transforms"] if t["name"] == "truncate")
    assert truncate["help"] and truncate["params"][0]["name"] == "length" and truncate["examples"]


def test_an_edit_changes_one_field_and_keeps_every_comment_and_other_line(admin):
    answer = admin.post("/api/designer/edit", json={
        "yaml": ORDER, "section": "header", "field": "PONum",
        "spec": {"from": "charge.description", "transforms": [{"name": "truncate", "length": 50}]}})
    assert answer.status_code == 200
    edited = answer.get_json()["yaml"]
    before, after = ORDER.splitlines(), edited.splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [("    PONum: {from: charge.id}",
                        "    PONum: {from: charge.description, transforms: [{name: truncate, length: 50}]}")]
    added = admin.post("/api/designer/edit", json={"yaml": edited, "section": "lines", "field": "Foo_c",
                                                   "spec": {"const": "x"}}).get_json()["yaml"]
    assert added.splitlines()[:-1] == after and added.splitlines()[-1] == "    Foo_c: {const: x}"
    removed = admin.post("/api/designer/edit", json={"yaml": added, "section": "lines", "field": "Foo_c",
                                                     "spec": None}).get_json()["yaml"]
    assert removed == edited


@pytest.mark.parametrize("body", [
    {"yaml": ORDER, "section": "footer", "field": "PONum", "spec": None},
    {"yaml": ORDER, "section": "header", "field": "PO Num; rm", "spec": None},
    {"yaml": ORDER, "section": "header", "field": "PONum", "spec": "charge.id"},
    {"yaml": "kind: [unclosed", "section": "header", "field": "PONum", "spec": None},
    {"section": "header", "field": "PONum", "spec": None},
    [1, 2],
])
def test_a_bad_edit_is_a_400_with_its_reason(admin, body):
    answer = admin.post("/api/designer/edit", json=body)
    assert answer.status_code == 400 and answer.get_json()["error"]


def test_sources_carry_the_events_own_values_and_the_sample_elsewhere(admin, redis_db):
    from tasks.mapping import shapes

    event_id = stored_event(redis_db)
    found = admin.get(f"/api/designer/{FLOW}/sources?builders=sale&event_id={event_id}").get_json()
    assert found["from_event"] is True
    by_path = {field["path"]: field for field in found["fields"]}
    charge = shapes.sample_objects(FLOW)[0]["charge"]
    assert by_path["charge.amount"] == {"path": "charge.amount", "type": "integer", "value": charge["amount"],
                                        "origin": "event"}
    assert "sale.lines[].part" in by_path  # the builder's results are sources too
    assert admin.get(f"/api/designer/{FLOW}/sources?event_id=evt_never").status_code == 404
    assert admin.get("/api/designer/nope/sources").status_code == 404
    assert admin.get(f"/api/designer/{FLOW}/sources?builders=bad-name").status_code == 400


def test_samples_list_the_flows_dead_letters(admin, redis_db):
    from tasks import dlq

    dlq.dead_letter(event={"id": "evt_designer_dead", "type": "charge.succeeded", "flow": FLOW}, stage="validate",
                    stage_input={}, error={"reason": "validation.part", "message": "PartNum X is not in Epicor"},
                    attempts=1, failure_id="f1")
    dlq.dead_letter(event={"id": "evt_other_flow", "type": "charge.refunded", "flow": "refunds"}, stage="validate",
                    stage_input={}, error={"reason": "r", "message": "m"}, attempts=1, failure_id="f2")
    listed = admin.get(f"/api/designer/{FLOW}/samples").get_json()["samples"]
    assert [(s["event_id"], s["state"], s["reason"], s["type"]) for s in listed] == [
        ("evt_designer_dead", "dead", "validation.part", "charge.succeeded")]
    assert admin.get("/api/designer/dispute_reversals/samples").get_json()["event_flow"] == "disputes"


def test_what_was_posted_is_the_post_stages_documents(admin, redis_db):
    event_id = stored_event(redis_db)
    documents = [{"kind": "sales_order", "reference": {}, "header": {"PONum": "ch_1"}, "lines": [],
                  "placeholders": [], "currency": "USD"}]
    redis_db.set(f"sec:stage:{event_id}:post", json.dumps({"documents": documents, "payment_key": "pi_1"}))
    posted = admin.get(f"/api/designer/events/{event_id}/posted").get_json()
    assert posted["documents"] == documents and posted["state"] == "done" and posted["stored"] is True
    assert admin.get("/api/designer/events/evt_never/posted").status_code == 404


def test_the_diff_is_against_the_live_version_with_the_drafts_problems(admin):
    draft = ORDER.replace("PONum: {from: charge.id}", "PONum: {from: charge.nope}")
    found = admin.post(f"/api/designer/{FLOW}/sales_order/diff", json={"yaml": draft}).get_json()
    assert found["version"] == 1 and found["changed"] is True
    assert "+    PONum: {from: charge.nope}" in found["diff"]
    assert any("header.PONum" in problem and "charge.nope" in problem for problem in found["problems"])
    assert admin.post(f"/api/designer/{FLOW}/nothing/diff", json={"yaml": draft}).status_code == 404


def test_an_edit_from_the_page_needs_the_csrf_token(app):
    admin = app.test_client()
    log_in(admin, "admin-test", next_page="/console/")
    answer = admin.post("/api/designer/edit", json={"yaml": ORDER, "section": "header", "field": "PONum", "spec": None})
    assert answer.status_code in (400, 403)
    assert "yaml" not in (answer.get_json(silent=True) or {})
