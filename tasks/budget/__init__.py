"""Budgets for calls to Epicor and Stripe shared by every worker process of a deployment (issue 16).

- Epicor calls in flight: at most ``EPICOR_MAX_CONCURRENCY`` for the whole deployment, however many
  worker processes and hosts share the Redis (``permits.SharedPermits``: leases renewed by a
  heartbeat, permits leased in blocks so a call costs no Redis round trip in steady state), lowered
  and raised again by the adaptive back-off.
- Epicor and Stripe calls per second (``EPICOR_MAX_CALLS_PER_SECOND``, ``STRIPE_MAX_CALLS_PER_SECOND``,
  the latter per Stripe account): ``rate.SharedRate``, tokens taken in blocks.

A worker turns the shared budgets on at start (``enable``, from ``tasks.signals``); each process
builds its own on first use (a prefork child after the fork) and gives its permits back when it
stops (``shutdown``). Any other process that calls Epicor (a CLI command, a unit test) keeps the
per-process bound of before and no rate limit: it touches no shared state.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from functools import partial
from typing import Any

from tasks.budget.permits import LocalPermits, Policy, SharedPermits
from tasks.budget.rate import NoRate, SharedRate
from tasks.settings import Settings

LEASE_MARGIN = 10.0  # seconds a lease outlives the longest call: room for missed heartbeats
EPICOR = "epicor"

_lock = threading.Lock()
_enabled = False
_owner_pid: int | None = None
_shared: dict[str, Any] = {}
_local: dict[tuple[str, int], LocalPermits] = {}


def enable() -> None:
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def _redis() -> Any:
    from tasks import store

    return store.client()


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def _shared_budget(name: str, build: Any) -> Any:
    """This process's budget ``name``; a forked child builds its own (its parent's threads are gone)."""
    global _owner_pid
    with _lock:
        if _owner_pid != os.getpid():
            _shared.clear()
            _owner_pid = os.getpid()
        if name not in _shared:
            _shared[name] = build()
        return _shared[name]


def epicor_name(settings: Settings) -> str:
    """The Epicor budget's name: ``epicor`` for the default pair, ``epicor:<pair>`` for another
    (``tasks.pairs``): each Epicor company has its own limit, back-off and rate."""
    return EPICOR if settings.pair == "default" else f"{EPICOR}:{settings.pair}"


def epicor_policy(settings: Settings) -> Policy:
    return Policy(limit=settings.epicor_max_concurrency, ttl=settings.epicor_timeout + LEASE_MARGIN,
                  call_timeout=settings.epicor_timeout, heartbeat=settings.budget_heartbeat,
                  cooldown=settings.epicor_limit_cooldown, raise_every=settings.epicor_limit_raise_interval,
                  slow_call=settings.epicor_slow_call_seconds)


def epicor_permits(settings: Settings) -> SharedPermits | LocalPermits:
    """The bound on Epicor calls in flight: the deployment's in a worker, else this process's."""
    name = epicor_name(settings)
    if not _enabled:
        with _lock:
            return _local.setdefault((name, settings.epicor_max_concurrency),
                                     LocalPermits(settings.epicor_max_concurrency))

    def build() -> SharedPermits:
        from telemetry import metrics

        permits = SharedPermits(name, _worker_id(), epicor_policy(settings), _redis,
                                on_limit=partial(metrics.epicor_limit, pair=settings.pair))  # the pair's gauge
        permits.start()
        return permits
    return _shared_budget(name, build)


def epicor_rate(settings: Settings) -> SharedRate | NoRate:
    rate = settings.epicor_max_calls_per_second
    if not _enabled or rate <= 0:
        return NoRate()
    name = f"{epicor_name(settings)}:rate"
    return _shared_budget(name, lambda: SharedRate(name, rate, _redis))


def stripe_account(settings: Settings) -> str:
    """A name for the Stripe account behind the key, without the key: its hash's first 12 digits."""
    return hashlib.sha256(settings.stripe_api_key.encode()).hexdigest()[:12]


def stripe_rate(settings: Settings) -> SharedRate | NoRate:
    rate = settings.stripe_max_calls_per_second
    if not _enabled or rate <= 0:
        return NoRate()
    name = f"stripe:{stripe_account(settings)}:rate"
    return _shared_budget(name, lambda: SharedRate(name, rate, _redis))


def shutdown() -> None:
    """Give back every permit this process holds (a worker stopping: its share is free at once)."""
    with _lock:
        budgets = list(_shared.values()) if _owner_pid == os.getpid() else []
        _shared.clear()
    for budget in budgets:
        if isinstance(budget, SharedPermits):
            budget.stop()


def epicor_limit(client: Any = None, pair: str = "default") -> dict[str, int] | None:
    """The deployment's Epicor limit of ``pair`` as Redis holds it now: current, max, workers and permits
    held (None before any worker leased one). For the console; one pipelined round trip."""
    name = EPICOR if pair == "default" else f"{EPICOR}:{pair}"  # epicor_name's rule
    keys = SharedPermits(name, "", Policy(1, 1, 0), lambda: None).keys()
    pipe = (client or _redis()).pipeline(transaction=False)
    pipe.hmget(keys[3], "current", "max")
    pipe.hvals(keys[0])
    (current, limit), held = pipe.execute()
    if current is None:
        return None
    return {"current": int(current), "max": int(limit or current), "workers": len(held),
            "held": sum(int(value) for value in held)}
