"""The history store on SQLite: pipeline writes → stream → drainer → database → queries.

Redis is fakeredis (the records go through the same Lua scripts and pipelines as in production);
the database is a real SQLite file migrated by Alembic.
"""

from __future__ import annotations

import json

import pytest

from history import db, drainer, extract, queries, recorder, retention, writer
from tasks import store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture()
def history_db(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'history.sqlite3'}")
    db.dispose_engines()
    db.migrate()
    yield db.database_url()
    db.dispose_engines()


def clock(monkeypatch, at: float) -> None:
    monkeypatch.setattr(store, "now", lambda: at)


def a_paid_payment(monkeypatch, event_id: str = "evt_1", charge: str = "ch_1", *, start: float = T0) -> None:
    """One charge.succeeded event through the pipeline's own store calls, received → done."""
    clock(monkeypatch, start)
    store.record_event({"id": event_id, "source": "stripe", "type": "charge.succeeded", "object_id": charge,
                        "flow": "order_to_cash", "payment": "pi_1"})
    clock(monkeypatch, start + 1)
    event, _, _ = store.begin_stage(event_id, "fetch", 1)
    fetched = {"payment_key": "pi_1", "charge": {"id": charge, "amount": 12345, "currency": "usd",
                                                 "customer": "cus_1", "payment_intent": "pi_1"}}
    facts, history = extract.after_stage("fetch", {**event, "id": event_id}, fetched)
    store.put_stage_input(event_id, "transform", fetched, history=history, **facts)
    clock(monkeypatch, start + 2)
    event, _, _ = store.begin_stage(event_id, "post", 1)
    keys = {"CustNum": 7, "OrderNum": 5001, "InvoiceNum": 9001, "CashGroupID": "CR0101", "HeadNum": 42}
    output = {"keys": keys, "payment_key": "pi_1"}
    facts, history = extract.after_stage("post", {**event, "id": event_id}, output)
    store.put_stage_input(event_id, "status_update", output, history=history, epicor_keys=keys)
    clock(monkeypatch, start + 3)
    with recorder.working_on(event_id):
        recorder.record("writeback", stripe_object=charge, fields={"epicor_order_num": "5001"})
    store.update_event(event_id, state="done", stage="status_update", epicor_keys=keys, last_error=None,
                       finished_at=start + 3)


def drain_all(url: str | None = None) -> int:
    moved = 0
    while (count := drainer.drain(url=url)) > 0:
        moved += count
    return moved


def test_a_payment_lands_with_its_timeline_documents_and_writeback(fake_redis, history_db, monkeypatch):
    a_paid_payment(monkeypatch)
    assert drain_all() > 0
    assert fake_redis.xlen(recorder.STREAM) == 0
    detail = queries.event_detail("evt_1")
    assert detail["state"] == "done" and detail["flow"] == "order_to_cash"
    assert detail["received_at"] == "2026-01-01T00:00:00.000+00:00"
    assert [(t["state"], t["stage"]) for t in detail["timeline"]] == [
        ("received", None), ("processing", "fetch"), ("processing", "post"), ("done", "status_update")]
    assert {d["entity"] for d in detail["documents"]} == {"Customer", "SalesOrder", "ARInvoice", "CashReceipt"}
    receipt = next(d for d in detail["documents"] if d["entity"] == "CashReceipt")
    assert receipt["keys"] == {"HeadNum": 42, "GroupID": "CR0101"} and receipt["amount_text"] == "123.45"
    assert detail["writebacks"][0]["stripe_object"] == "ch_1"
    assert detail["amount"] == 12345 and detail["attempts"] == 1


@pytest.mark.parametrize("q", ["evt_1", "ch_1", "pi_1", "cus_1", "5001", "9001", "42", "7"])
def test_search_finds_the_payment_by_any_id_or_epicor_number(fake_redis, history_db, monkeypatch, q):
    a_paid_payment(monkeypatch)
    drain_all()
    found = queries.search(q)
    assert [e["id"] for e in found["events"]] == ["evt_1"]
    assert found["documents"]
    assert queries.search("ch_unknown") == {"events": [], "documents": []}


def test_stats_count_outcomes_latency_and_amounts(fake_redis, history_db, monkeypatch):
    a_paid_payment(monkeypatch)
    a_paid_payment(monkeypatch, "evt_2", "ch_2", start=T0 + 60)
    drain_all()
    figures = queries.stats("24h", now=T0 + 3600)
    assert figures["counts"] == {"order_to_cash": {"done": 2}}
    assert figures["amounts"] == {"usd": "246.90"}
    assert figures["per_day"] == [{"day": "2026-01-01", "currency": "usd", "amount": "246.90"}]
    assert 2 <= figures["latency"]["p50"] <= 4 and figures["latency"]["n"] == 2
    assert sum(m["n"] for m in figures["per_minute"]) == 2
    assert queries.stats("1h", now=T0 + 86400 * 2)["counts"] == {}


def test_records_written_twice_count_once(fake_redis, history_db, monkeypatch):
    a_paid_payment(monkeypatch)
    entries = fake_redis.xrange(recorder.STREAM)
    drain_all()
    for _, fields in entries:  # a drainer killed between commit and delete: the same records again
        fake_redis.xadd(recorder.STREAM, fields)
    drain_all()
    detail = queries.event_detail("evt_1")
    assert len(detail["timeline"]) == 4 and len(detail["documents"]) == 4
    assert queries.stats("30d", now=T0 + 60)["counts"] == {"order_to_cash": {"done": 1}}


def test_a_replayed_dead_letter_moves_from_dead_to_done(fake_redis, history_db, monkeypatch):
    clock(monkeypatch, T0)
    store.record_event({"id": "evt_d", "source": "stripe", "type": "charge.succeeded", "object_id": "ch_d",
                        "flow": "order_to_cash"})
    store.begin_stage("evt_d", "validate", 1)
    store.update_event("evt_d", last_error={"reason": "epicor.business_rule", "message": "part NEWPART-9 unknown"})
    store.update_event("evt_d", state="dead", stage="validate")
    drain_all()
    assert queries.stats("24h", now=T0 + 60)["counts"] == {"order_to_cash": {"dead": 1}}
    assert queries.stats("24h", now=T0 + 60)["epicor_errors"] == {"epicor.business_rule": 1}
    assert queries.list_events(state="dead")[0]["error"]["message"] == "part NEWPART-9 unknown"
    clock(monkeypatch, T0 + 120)
    store.update_event("evt_d", state="received", last_error=None)
    store.begin_stage("evt_d", "validate", 1)
    store.update_event("evt_d", state="done", stage="status_update", last_error=None)
    recorder.record("operator_action", who="alice", action="retry", target="evt_d", comment="part added")
    drain_all()
    assert queries.stats("24h", now=T0 + 200)["counts"] == {"order_to_cash": {"done": 1}}
    assert queries.event_detail("evt_d")["error"] is None
    assert queries.operator_actions("evt_d")[0]["who"] == "alice"


def test_records_wait_in_redis_while_the_database_is_away(fake_redis, history_db, monkeypatch, tmp_path):
    a_paid_payment(monkeypatch)
    waiting = fake_redis.xlen(recorder.STREAM)
    away = f"sqlite:///{tmp_path / 'not-a-dir' / 'x' / 'history.sqlite3'}"
    (tmp_path / "not-a-dir").write_text("a file where the database's directory should be")
    with pytest.raises(Exception):  # noqa: B017 - whatever the database raises, nothing is lost
        drainer.drain_batch(url=away)
    assert fake_redis.xlen(recorder.STREAM) == waiting
    thread = drainer.DrainerThread(interval=0.05)
    thread.step()  # the default database is back
    assert fake_redis.xlen(recorder.STREAM) == 0 and thread.failures == 0
    assert queries.event_detail("evt_1")["state"] == "done"


def test_list_events_filters_and_pages(fake_redis, history_db, monkeypatch):
    for n in range(5):
        a_paid_payment(monkeypatch, f"evt_{n}", f"ch_{n}", start=T0 + n * 10)
    drain_all()
    newest = queries.list_events(limit=2)
    assert [e["id"] for e in newest] == ["evt_4", "evt_3"]
    older = queries.list_events(limit=2, before=newest[-1]["received_at"])
    assert [e["id"] for e in older] == ["evt_2", "evt_1"]
    assert [e["id"] for e in queries.list_events(q="ch_3")] == ["evt_3"]
    assert queries.list_events(flow="refunds") == []
    assert json.dumps(newest)  # JSON-ready


def test_retention_prunes_old_events_and_rollups(fake_redis, history_db, monkeypatch):
    a_paid_payment(monkeypatch)
    a_paid_payment(monkeypatch, "evt_new", "ch_new", start=T0 + 10 * 86400)
    drain_all()
    assert retention.prune(days=5, now=T0 + 11 * 86400) == 1
    assert queries.event_detail("evt_1") is None and queries.search("ch_1")["events"] == []
    assert queries.event_detail("evt_new")["state"] == "done"
    assert queries.stats("30d", now=T0 + 11 * 86400)["counts"] == {"order_to_cash": {"done": 1}}


def test_a_broken_entry_is_dropped_not_blocking(fake_redis, history_db, monkeypatch):
    fake_redis.xadd(recorder.STREAM, {"r": "not json"})
    a_paid_payment(monkeypatch)
    drain_all()
    assert fake_redis.xlen(recorder.STREAM) == 0 and queries.event_detail("evt_1")


def test_refund_keys_give_one_document_per_credit_memo():
    keys = {"CustNum": 7, "InvoiceRef": 9001,
            "CreditMemos": [{"InvoiceNum": 9100, "HeadNum": 50, "GroupID": "RF01"}, {"InvoiceNum": 9101}]}
    assert extract.documents(keys) == [
        {"entity": "Customer", "keys": {"CustNum": 7}},
        {"entity": "CreditMemo", "keys": {"InvoiceNum": 9100, "HeadNum": 50, "GroupID": "RF01"}},
        {"entity": "CreditMemo", "keys": {"InvoiceNum": 9101}}]
    assert set(extract.epicor_refs(keys)) == {"CustNum:7", "InvoiceNum:9001", "InvoiceNum:9100", "HeadNum:50",
                                               "InvoiceNum:9101"}


def test_money_is_signed_by_direction():
    assert extract.money("order_to_cash", {"charge": {"amount": 500, "currency": "EUR"}}) == (500, "eur")
    refunds = [{"amount": 200, "currency": "eur", "status": "succeeded"},
               {"amount": 100, "currency": "eur", "status": "pending"}]
    assert extract.money("refunds", {"refunds": refunds}) == (-200, "eur")
    assert extract.money("customer_sync", {"customer": {}}) is None
    assert queries.money_text(1000, "jpy") == "1000" and queries.money_text(-1234, "usd") == "-12.34"


def test_latency_buckets_round_trip():
    for seconds in (0.3, 2.0, 45.0, 3600.0):
        assert 0.75 * seconds <= writer.bucket_seconds(writer.latency_bucket(seconds)) <= 1.25 * seconds
    assert writer.latency_bucket(0.005) == 0


def test_recorder_never_raises(monkeypatch):
    def down():
        raise ConnectionError("redis away")

    monkeypatch.setattr(store, "client", down)
    assert recorder.record("operator_action", who="a", action="retry") is False


def test_each_posted_document_keeps_its_own_external_reference():
    event = {"id": "evt_r", "payment": "pi_1", "amount": "2500", "currency": "usd"}
    sale = {"keys": {"CustNum": 7, "OrderNum": 5012, "InvoiceNum": 9001, "CashGroupID": "SC260304", "HeadNum": 41},
            "payment_key": "pi_1", "references": {"Customer": "cus_1", "SalesOrder": "pi_1", "ARInvoice": "ch_1",
                                                  "CashReceipt": "ch_1"}}
    _, records = extract.after_stage("post", event, sale)
    assert {r["entity"]: r["external_ref"] for r in records} == {
        "Customer": "cus_1", "SalesOrder": "pi_1", "ARInvoice": "ch_1", "CashReceipt": "ch_1"}
    refund = {"keys": {"CustNum": 7, "InvoiceRef": 9001, "CreditMemos": [
        {"RefundID": "re_1", "InvoiceNum": 9100, "CashGroupID": "SC260305", "HeadNum": 50}]}}
    _, records = extract.after_stage("post", event, refund)
    assert [(r["entity"], r["external_ref"]) for r in records] == [("Customer", "pi_1"), ("CreditMemo", "re_1")]


def test_the_order_to_cash_post_names_each_documents_reference():
    from tasks.epicor.posting import document_references
    from tests.fixtures import FIXTURES_DIR

    expected = json.loads((FIXTURES_DIR / "expected_documents" / "order_to_cash.json").read_text())
    assert document_references(expected["payment_usd_customer"]) == {
        "Customer": "cus_QXg1o8vcGmoR32", "SalesOrder": "pi_3QxUsdCustomer0001Ab",
        "ARInvoice": "ch_3QxUsdCustomer0001Ab", "CashReceipt": "ch_3QxUsdCustomer0001Ab"}
    assert "Customer" not in document_references(expected["payment_jpy_guest"])  # a guest has no Stripe id
