"""Catch-up of missed Stripe events: the window, the two listings, deduplication (fakeredis, fake Stripe)."""

from __future__ import annotations

from typing import Any

import pytest

from tasks import catchup, store

NOW = 1_764_300_000
DAY = 86400


class FakeStripe:
    """`GET /v1/events` over a fixed list, newest first, honouring the filters the catch-up sends."""

    def __init__(self, events: list[dict[str, Any]], page_size: int = 2):
        self.events = sorted(events, key=lambda e: e["created"], reverse=True)
        self.page_size = page_size
        self.requests: list[dict[str, Any]] = []

    def events_page(self, params: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(params)
        matching = [e for e in self.events if e["created"] >= params["created"]["gte"]]
        if "delivery_success" in params:
            matching = [e for e in matching if not e["_delivered"]]
        start = 0
        if params.get("starting_after"):
            start = [e["id"] for e in matching].index(params["starting_after"]) + 1
        page = matching[start:start + self.page_size]
        return {"object": "list", "data": page, "has_more": start + self.page_size < len(matching)}


def event(event_id: str, created: int, kind: str = "charge.succeeded", delivered: bool = True) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": created, "api_version": "2025-03-31.basil",
            "data": {"object": {"id": f"ch_{event_id}", "object": "charge"}}, "livemode": False,
            "_delivered": delivered}


@pytest.fixture()
def received(monkeypatch):
    queued: list[dict[str, Any]] = []

    def receive(summary: dict[str, Any]) -> None:
        queued.append(summary)
        store.record_event(summary)

    monkeypatch.setattr(catchup, "receive", receive)
    return queued


def test_first_run_looks_back_three_days_then_from_the_newest_event_seen():
    assert catchup.window_start(NOW, None, None) == NOW - 3 * DAY
    assert catchup.window_start(NOW, NOW - 100, None) == NOW - 100 - catchup.OVERLAP_SECONDS
    assert catchup.window_start(NOW, NOW - 40 * DAY, None) == NOW - 30 * DAY + 60
    assert catchup.window_start(NOW, None, 45) == NOW - 30 * DAY + 60


def test_events_never_received_are_queued_once_across_pages_and_runs(fake_redis, received):
    store.record_event({"id": "evt_live", "type": "charge.succeeded", "source": "stripe"})
    stripe = FakeStripe([event("evt_live", NOW - 50), event("evt_a", NOW - 40), event("evt_b", NOW - 30),
                         event("evt_c", NOW - 20, kind="balance.available"), event("evt_d", NOW - 10)])
    first = catchup.catch_up(stripe, now=NOW)
    assert first["queued_ids"] == ["evt_d", "evt_b", "evt_a"]
    assert (first["already_received"], first["no_flow"], first["listed"]) == (1, 1, 5)
    assert received[0]["object_id"] == "ch_evt_d" and received[0]["received_via"] == "catch-up"
    assert "data" not in received[0]  # the payload is never kept
    assert len([r for r in stripe.requests if "starting_after" in r]) >= 2  # walked several pages
    assert fake_redis.hget(store.key(*catchup.MARK), "last_seen") == str(NOW - 10)
    second = catchup.catch_up(stripe, now=NOW + 60)
    assert second["queued"] == 0


def test_an_undelivered_event_older_than_the_mark_is_found_by_the_second_listing(fake_redis, received):
    fake_redis.hset(store.key(*catchup.MARK), "last_seen", str(NOW - 60))
    stripe = FakeStripe([event("evt_old", NOW - 5 * DAY, delivered=False), event("evt_old_ok", NOW - 4 * DAY),
                         event("evt_new", NOW - 30)])
    summary = catchup.catch_up(stripe, now=NOW)
    assert sorted(summary["queued_ids"]) == ["evt_new", "evt_old"]
    assert {r.get("delivery_success") for r in stripe.requests} == {None, False}


def test_dry_run_queues_nothing_and_moves_no_mark(fake_redis, received):
    stripe = FakeStripe([event("evt_a", NOW - 40)])
    summary = catchup.catch_up(stripe, now=NOW, dry_run=True)
    assert summary["queued_ids"] == ["evt_a"] and received == []
    assert fake_redis.hget(store.key(*catchup.MARK), "last_seen") is None
