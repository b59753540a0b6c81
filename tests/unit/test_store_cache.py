"""Master-data caches: Redis for an hour, and the process's own copy for a minute."""

from __future__ import annotations

from tasks import store


def test_a_cached_value_is_read_from_the_process_for_a_minute_then_from_redis(fake_redis, monkeypatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr(store.time, "monotonic", lambda: clock["now"])
    store.cache_set(1, "part", "WIDGET-100")
    fake_redis.delete("sec:cache:part:WIDGET-100")  # e.g. expired in Redis
    assert store.cache_get("part", "WIDGET-100") == "1"
    clock["now"] += store.LOCAL_CACHE_SECONDS + 1
    assert store.cache_get("part", "WIDGET-100") is None


def test_a_value_first_read_from_redis_is_kept_in_the_process(fake_redis):
    fake_redis.set("sec:cache:group:InvcGrps:STRIPE01", "1")
    assert store.cache_get("group", "InvcGrps", "STRIPE01") == "1"
    fake_redis.flushdb()
    assert store.cache_get("group", "InvcGrps", "STRIPE01") == "1"
    assert store.cache_get("group", "InvcGrps", "OTHER") is None


def test_the_process_copy_is_bounded(fake_redis, monkeypatch):
    monkeypatch.setattr(store, "LOCAL_CACHE_MAX", 3)
    for index in range(5):
        store.cache_set(index, "customer", "EMailAddress", f"c{index}@example.com")
    assert len(store._local_cache) <= 3
