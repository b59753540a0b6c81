"""The Overview's "Epicor limit" tile: the deployment's Epicor concurrency limit as Redis holds it
(``tasks.budget``), flagged while the adaptive back-off keeps it below EPICOR_MAX_CONCURRENCY."""

from __future__ import annotations

from tests.web.test_console_overview import console, history, tile  # noqa: F401 - fixtures of that module

__all__ = ["console", "history"]


def test_the_tile_shows_the_lowered_limit_and_who_holds_permits(console, redis_db):
    redis_db.hset("sec:budget:epicor:limit", mapping={"current": 2, "max": 4})
    redis_db.hset("sec:budget:epicor:holders", mapping={"host-a:101:aa": 1, "host-b:202:bb": 1})
    found = tile(console.get("/console/").get_data(as_text=True), "Epicor limit")
    assert "tile-warn" in found and "2 of 4" in found
    assert "2 leased by 2 worker processes" in found


def test_the_tile_is_well_at_the_maximum_and_unknown_before_any_worker(console, redis_db):
    assert "not set yet" in tile(console.get("/console/overview/live").get_data(as_text=True), "Epicor limit")
    redis_db.hset("sec:budget:epicor:limit", mapping={"current": 4, "max": 4})
    found = tile(console.get("/console/overview/live").get_data(as_text=True), "Epicor limit")
    assert "tile-ok" in found and "4 of 4" in found
