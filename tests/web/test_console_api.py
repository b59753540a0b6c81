"""The JSON API and the failures page over a real Redis and a real (SQLite) history.

Dead letters are written with ``tasks.dlq.dead_letter`` as the pipeline writes them; the history gets
its records through the recorder's stream and the drainer, as in production.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.web.conftest import CONSOLE_PASSWORD, basic_auth

PART_MESSAGE = ("PartNum 'NEWPART-9' is not in Epicor: add the part in Epicor or map the Stripe product to an "
                "existing part in mappings/parts.yaml (payment {payment})")


def as_user(app, role: str):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = basic_auth(f"{role}-test", CONSOLE_PASSWORD)
    return test_client


def drain_history() -> None:
    from history import drainer

    drainer.drain()


def dead_event(event_id: str, payment: str, *, reason: str = "validation.unknown_part", message: str = PART_MESSAGE,
               stage_input: dict | None = None) -> None:
    from tasks import dlq, store

    event = {"id": event_id, "source": "stripe", "type": "payment_intent.succeeded", "object_id": payment,
             "flow": "order_to_cash"}
    store.record_event(event)
    store.update_event(event_id, state="dead", stage="validate", last_error={"reason": reason, "message": "x"})
    dlq.dead_letter(event=event, stage="validate", stage_input=stage_input or {"payment": payment},
                    error={"error_class": "ValidationFailed", "reason": reason,
                           "message": message.format(payment=payment)},
                    attempts=1, failure_id=f"failure-{event_id}")


def test_event_keeps_its_old_fields_with_iso_times_numeric_counts_and_gains_its_history(app):
    from history.recorder import record
    from tasks import store

    store.record_event({"id": "evt_api1", "source": "stripe", "type": "charge.succeeded", "object_id": "ch_api1",
                        "flow": "order_to_cash"})
    store.update_event("evt_api1", state="processing", stage="post", attempts=2)
    store.update_event("evt_api1", state="done", stage="status_update", epicor_keys={"OrderNum": 5012},
                       finished_at=store.now())
    record("document", event_id="evt_api1", entity="SalesOrder", keys={"OrderNum": 5012}, external_ref="pi_api1",
           amount="45.00", currency="usd")
    drain_history()
    answer = as_user(app, "viewer").get("/api/events/evt_api1")
    assert answer.status_code == 200
    event = answer.get_json()
    assert event["state"] == "done" and event["epicor_keys"] == {"OrderNum": 5012}
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$", event["received_at"])
    assert event["finished_at"].endswith("+00:00")
    assert event["attempts"] == 2 and isinstance(event["deliveries"], int | type(None))
    assert [step["state"] for step in event["timeline"]][-1] == "done"
    assert event["documents"][0]["entity"] == "SalesOrder" and event["documents"][0]["keys"] == {"OrderNum": 5012}
    assert as_user(app, "viewer").get("/api/events/evt_never").status_code == 404


@pytest.mark.parametrize("path", ["/api/events?limit=abc", "/api/events?limit=0", "/api/events?state=lost",
                                  "/api/stats?window=7d", "/api/search", "/api/search?q=" + "x" * 300,
                                  "/api/payouts?limit=9999", "/api/events?before=yesterday"])
def test_a_bad_parameter_is_a_400_that_names_it(app, path):
    answer = as_user(app, "viewer").get(path)
    assert answer.status_code == 400 and answer.get_json()["error"]


def test_events_page_back_by_time(app):
    viewer = as_user(app, "viewer")
    assert viewer.get("/api/events?before=2026-12-06T10:00:00Z").status_code == 200
    assert viewer.get("/api/events?before=1765000000").get_json() == {"events": [], "count": 0}


def test_stats_and_search_answer_with_numbers_and_lists(app):
    stats = as_user(app, "viewer").get("/api/stats?window=30d").get_json()
    assert stats["window"] == "30d" and set(stats) >= {"counts", "latency", "amounts", "per_minute", "per_day"}
    dead_event("evt_s1", "pi_3Search1")
    drain_history()
    found = as_user(app, "viewer").get("/api/search?q=evt_s1").get_json()
    assert [event["id"] for event in found["events"]] == ["evt_s1"]


def test_dead_letters_are_grouped_by_cause_whatever_their_ids(app):
    for number in range(3):
        dead_event(f"evt_part{number}", f"pi_3Part{number}AbCdEf")
    dead_event("evt_other", "pi_3OtherAbCdEf", reason="validation.unknown_reason",
               message="Reason code RFND (ReasonType C) is not in Epicor: {payment}")
    listing = as_user(app, "viewer").get("/api/dlq").get_json()
    assert listing["count"] == 4
    first, second = listing["groups"]
    assert first["count"] == 3 and "NEWPART-9" in first["message"] and "pi_3Part" not in first["message"]
    assert sorted(first["event_ids"]) == ["evt_part0", "evt_part1", "evt_part2"]
    assert second["count"] == 1 and second["reason"] == "validation.unknown_reason"
    assert first["first_failed_at"].endswith("+00:00")
    assert all("stage_input" not in record for record in listing["records"])


def test_a_shown_record_masks_secrets(app):
    dead_event("evt_secret", "pi_3SecretAbCdEf",
               stage_input={"api_key": "sandbox-api-key-value", "note": "key sk_live_51AbCdEfGh used", "ok": "kept"})
    record = as_user(app, "viewer").get("/api/dlq/evt_secret").get_json()
    shown = json.dumps(record)
    assert "sandbox-api-key-value" not in shown and "sk_live_51AbCdEfGh" not in shown
    assert record["stage_input"]["ok"] == "kept" and record["attempts"] == 1


def test_discard_needs_a_comment_and_keeps_who_and_why(app, redis_db):
    from tasks import dlq, store

    dead_event("evt_d1", "pi_3DiscardAbCdEf")
    operator = as_user(app, "operator")
    assert operator.post("/api/dlq/evt_d1/discard", json={"comment": "  "}).status_code == 400
    assert operator.post("/api/dlq/evt_d1/discard", json={}).status_code == 400
    answer = operator.post("/api/dlq/evt_d1/discard", json={"comment": "refunded by hand"})
    assert answer.status_code == 200 and answer.get_json()["discarded"] == ["evt_d1"]
    assert dlq.get("evt_d1") is None
    event = store.get_event("evt_d1")
    assert event["discarded_by"] == "operator-test" and event["discard_comment"] == "refunded by hand"
    drain_history()
    shown = as_user(app, "viewer").get("/api/events/evt_d1").get_json()
    action = shown["actions"][0]
    assert (action["who"], action["action"], action["comment"]) == ("operator-test", "dlq.discard", "refunded by hand")
    assert operator.post("/api/dlq/evt_d1/discard", json={"comment": "again"}).status_code == 404


def test_retry_requeues_the_event_and_drops_the_record(app):
    from tasks import dlq, store

    dead_event("evt_r1", "pi_3RetryAbCdEf")
    answer = as_user(app, "operator").post("/api/dlq/evt_r1/retry")
    assert answer.status_code == 200 and answer.get_json()["retried"] == ["evt_r1"]
    assert dlq.get("evt_r1") is None and store.get_event("evt_r1")["state"] == "received"
    # the stage it starts from is tasks.dlq_cli.restart_stage's (tests/unit/test_dlq_cli.py)


def test_a_group_is_retried_or_discarded_at_once(app):
    from tasks import dlq

    for number in range(2):
        dead_event(f"evt_g{number}", f"pi_3Group{number}AbCdEf")
    key = as_user(app, "viewer").get("/api/dlq").get_json()["groups"][0]["key"]
    operator = as_user(app, "operator")
    assert operator.post(f"/api/dlq/groups/{key}/discard", json={}).status_code == 400
    answer = operator.post(f"/api/dlq/groups/{key}/discard", json={"comment": "test payments"})
    assert sorted(answer.get_json()["discarded"]) == ["evt_g0", "evt_g1"] and dlq.depth() == 0
    assert operator.post(f"/api/dlq/groups/{key}/retry").status_code == 404


def test_the_failures_page_shows_groups_and_gives_buttons_to_operators_only(app):
    for number in range(2):
        dead_event(f"evt_p{number}", f"pi_3Page{number}AbCdEf")
    viewer_page = as_user(app, "viewer")
    viewer_page.environ_base.pop("HTTP_AUTHORIZATION")  # pages need the session: log in as a browser does
    from tests.web.test_console_auth import log_in

    log_in(viewer_page, "viewer-test")
    html = viewer_page.get("/console/failures").get_data(as_text=True)
    assert "2 ×</span>" in html and "NEWPART-9" in html and "evt_p0" in html
    assert 'class="retry' not in html and "Discard all" not in html
    operator_page = as_user(app, "operator")
    operator_page.environ_base.pop("HTTP_AUTHORIZATION")
    log_in(operator_page, "operator-test")
    html = operator_page.get("/console/failures").get_data(as_text=True)
    assert "Retry all 2" in html and "Discard all 2" in html
    key = re.search(r'data-group="([0-9a-f]+)"', html).group(1)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    swapped = operator_page.post(f"/console/failures/groups/{key}/discard", data={"comment": "duplicates"},
                                 headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert swapped.status_code == 200 and "2 event(s) discarded" in swapped.get_data(as_text=True)
    assert "The dead-letter queue is empty." in swapped.get_data(as_text=True)


def test_the_event_page_shows_the_dead_letter_and_its_timeline(app):
    dead_event("evt_page", "pi_3EventPageAbCd")
    drain_history()
    browser = app.test_client()
    from tests.web.test_console_auth import log_in

    log_in(browser, "operator-test")
    html = browser.get("/console/events/evt_page").get_data(as_text=True)
    assert "NEWPART-9" in html and "Dead letter" in html and "Retry" in html
    assert "https://dashboard.stripe.com/test/payments/pi_3EventPageAbCd" in html
    assert browser.get("/console/events/evt_nope").status_code == 404
    assert "evt_page" in browser.get("/console/search?q=evt_page").get_data(as_text=True)
