"""The deployment-wide call budgets (tasks.budget) on a real Redis: permits leased in blocks by several
worker processes (each a ``SharedPermits`` with its own id here), never more in flight than the limit,
given back by a worker that stops, taken back from a worker that died, rebalanced when one starves;
the adaptive limit halved and climbing back; the calls-per-second bucket; no Redis round trip per call."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis

from tasks.budget.permits import Policy, SharedPermits
from tasks.budget.rate import SharedRate
from tasks.settings import load_settings, stripe_default_rate

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


class CountingRedis:
    """The real client, counting the commands sent through it; ``down`` makes every one fail."""

    def __init__(self, client: redis.Redis):
        self.client, self.commands, self.down = client, 0, False

    def __call__(self) -> CountingRedis:
        return self

    def register_script(self, source):
        return self.client.register_script(source)

    def evalsha(self, *args):
        if self.down:
            raise redis.exceptions.ConnectionError("down")
        self.commands += 1
        return self.client.evalsha(*args)

    def script_load(self, source):
        return self.client.script_load(source)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture()
def db():
    try:
        client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at TEST_REDIS_URL")
    client.flushdb()
    yield client
    client.flushdb()


def permits(db, worker: str, limit: int = 4, **policy) -> SharedPermits:
    settings = {"ttl": 5.0, "call_timeout": 1.0, "heartbeat": 0.1, "cooldown": 10.0, "raise_every": 0.0,
                **policy}
    return SharedPermits("test", worker, Policy(limit=limit, **settings), CountingRedis(db))


def take(budget: SharedPermits, count: int, timeout: float = 1.0) -> int:
    return sum(budget.acquire(timeout) for _ in range(count))


def held(db) -> dict[str, int]:
    return {worker: int(n) for worker, n in db.hgetall("sec:budget:test:holders").items()}


def test_workers_together_never_hold_more_than_the_limit(db):
    a, b = permits(db, "a"), permits(db, "b")
    assert take(a, 3) == 3  # a leased a spare permit beside its three calls
    assert not b.acquire(0.05)
    a.renew()  # its heartbeat: b is starving, so a keeps only what is in use
    assert take(b, 3) == 1  # a holds 3 in use: one left for the deployment
    assert sum(held(db).values()) == 4


def test_concurrent_calls_of_three_workers_stay_within_the_limit(db):
    workers = [permits(db, name, limit=5) for name in ("w1", "w2", "w3")]
    lock, state = threading.Lock(), {"now": 0, "most": 0, "calls": 0}

    def call(budget: SharedPermits) -> None:
        for _ in range(15):
            if not budget.acquire(5.0):
                continue
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(0.005)
            with lock:
                state["now"] -= 1
                state["calls"] += 1
            budget.release()

    for budget in workers:
        budget.start()
    threads = [threading.Thread(target=call, args=(budget,)) for budget in workers for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for budget in workers:
        budget.stop()
    assert state["calls"] == 3 * 6 * 15
    assert state["most"] == 5  # busy enough to use the whole limit, never more


def test_a_call_costs_no_redis_round_trip_once_permits_are_leased(db):
    budget = permits(db, "a")
    assert budget.acquire(1.0)
    budget.release()
    before = budget._redis.commands
    for _ in range(200):
        assert budget.acquire(1.0)
        budget.release()
    assert budget._redis.commands == before


def test_a_stopping_worker_gives_its_permits_back_at_once(db):
    a, b = permits(db, "a"), permits(db, "b")
    assert take(a, 4) == 4
    for _ in range(4):
        a.release()
    assert not b.acquire(0.05)
    a.stop()
    assert take(b, 4) == 4


def test_a_dead_worker_s_permits_come_back_when_its_lease_lapses(db):
    dead, alive = permits(db, "dead", ttl=0.6, call_timeout=0.2), permits(db, "alive", ttl=0.6, call_timeout=0.2)
    assert take(dead, 4) == 4  # and then it renews no more, nor releases
    assert not alive.acquire(0.1)
    assert alive.acquire(2.0)
    assert "dead" not in held(db)


def test_a_worker_that_cannot_renew_stops_starting_calls(db):
    budget = permits(db, "a", ttl=0.5, call_timeout=0.2, heartbeat=0.1)
    assert budget.acquire(0.1)
    budget.release()
    budget._redis.down = True
    time.sleep(budget.policy.trust + 0.05)
    assert not budget.acquire(0.2)  # its permits might be another worker's by now


def test_a_starving_worker_gets_its_share_once_the_others_calls_finish(db):
    greedy, late = permits(db, "greedy"), permits(db, "late")
    assert take(greedy, 4) == 4
    assert not late.acquire(0.05)  # marks it as starving
    for _ in range(4):
        greedy.release()
    greedy.renew()  # its heartbeat: above its share (2 of 4) while another starves, it gives back
    assert held(db)["greedy"] <= 2
    assert take(late, 2) == 2


def test_the_limit_is_halved_not_below_one_and_at_most_once_per_cool_down(db):
    budget = permits(db, "a", limit=8, cooldown=0.3)
    budget.renew()
    budget.congested("epicor.licence_exhausted")
    assert budget.current == 4
    budget._last_cut = float("-inf")  # another process asking within the cool-down: Redis refuses
    budget.congested("epicor.licence_exhausted")
    assert budget.current == 4
    for expected in (2, 1, 1):
        time.sleep(0.32)
        budget._last_cut = float("-inf")
        budget.congested("http_503")
        assert budget.current == expected


def test_the_limit_climbs_back_by_one_per_quiet_interval(db):
    budget = permits(db, "a", limit=4, cooldown=0.0, raise_every=0.2)
    budget.renew()
    budget.congested("epicor.licence_exhausted")
    assert budget.current == 2
    budget.renew()
    assert budget.current == 2  # not within the interval after the cut
    seen = []
    for _ in range(3):
        time.sleep(0.22)
        budget.renew()
        seen.append(budget.current)
    assert seen == [3, 4, 4]  # one step per interval, never above EPICOR_MAX_CONCURRENCY


def test_a_lowered_limit_bounds_new_calls_while_older_ones_finish(db):
    a, b = permits(db, "a", limit=4), permits(db, "b", limit=4)
    assert take(a, 4) == 4
    a.congested("epicor.licence_exhausted")  # limit 2; a still has 4 calls in flight
    for _ in range(4):
        a.release()
    assert take(a, 4) == 2
    b.renew()
    assert not b.acquire(0.05)  # the deployment is at its (new) limit: a holds 2 in use


def test_slow_answers_count_as_congestion(db):
    budget = permits(db, "a", limit=8, slow_call=0.5)
    budget.renew()
    budget.observe(0.1)
    assert budget.current == 8
    for _ in range(10):
        budget.observe(3.0)
    assert budget.current == 4


def test_calls_per_second_hold_across_workers(db):
    buckets = [SharedRate("rate", 40, CountingRedis(db)) for _ in range(3)]
    taken = [0, 0, 0]
    started = time.monotonic()

    def spend(index: int) -> None:
        while time.monotonic() - started < 1.0:
            if buckets[index].acquire(1.0):
                taken[index] += 1

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert sum(taken) <= buckets[0].capacity + 40 * elapsed + 1
    assert sum(taken) >= 30
    # three processes contending for the bucket: still fewer round trips than calls (tokens in blocks)
    assert sum(bucket._redis.commands for bucket in buckets) <= sum(taken) / 3


def test_stripe_default_rate_keeps_under_stripe_s_limits(monkeypatch):
    assert stripe_default_rate("sk_live_x", None) == 80.0
    assert stripe_default_rate("rk_test_x", "https://api.stripe.com") == 20.0
    assert stripe_default_rate("sk_test_x", "http://127.0.0.1:8100") == 0.0  # an emulator: not Stripe's limits
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_x")
    monkeypatch.setenv("STRIPE_MAX_CALLS_PER_SECOND", "50")
    assert load_settings().stripe_max_calls_per_second == 50.0
