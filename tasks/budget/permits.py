"""Deployment-wide bound on calls in flight: permits leased from Redis in blocks, spent locally.

Why blocks: the pipeline's throughput is measured, and a Redis round trip per Epicor call would cost
more than the bound is worth. Each worker process holds a lease on some permits (``scripts.LEASE``);
a thread takes one of the process's permits with no I/O at all, and only when the process has none
free does one thread ask Redis for more while the others wait. A heartbeat thread renews the lease
every ``heartbeat`` seconds, asking for what the process needed since the last one (its peak) plus a
small spare; that is also when permits above the process's share go back, once their calls finished.

Why it holds across hosts: Redis grants permits only while the sum held by live workers stays within
the deployment's current limit, and a worker never starts a call with more in flight than it was
granted. A worker that dies stops renewing; its lease lapses after ``ttl`` seconds and its permits
are free again. A worker that cannot renew (Redis away) stops starting calls once its lease could
have lapsed before a call started now would end (``ttl`` minus the call timeout), so its in-flight
calls always finish inside its lease.

Adaptive back-off (AIMD, ``scripts.CUT``/``LEASE``): ``congested`` halves the deployment's limit (at
most once per cool-down); every quiet interval a renewal raises it by one, back to the configured
maximum. The workers learn the new limit at their next renewal.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasks.budget import scripts

log = logging.getLogger(__name__)
REFILL_BACKOFF = (0.02, 0.5)  # first and longest pause between two refills that got nothing


@dataclass(frozen=True)
class Policy:
    """What one budget is configured with (seconds)."""

    limit: int
    ttl: float
    call_timeout: float
    heartbeat: float = 1.0
    cooldown: float = 10.0
    raise_every: float = 5.0
    slow_call: float = 0.0  # a smoothed call duration above this is congestion (0: not watched)

    @property
    def trust(self) -> float:
        """How long after a renewal the lease may still be relied on to start a call."""
        return max(self.ttl - self.call_timeout - self.heartbeat, self.heartbeat)


@dataclass
class Grant:
    held: int
    usable: int
    current: int
    live: int
    limit: int


class SharedPermits:
    """A semaphore (``acquire(timeout)`` / ``release()``) whose size is this process's lease."""

    def __init__(self, name: str, worker: str, policy: Policy, redis: Callable[[], Any],
                 on_limit: Callable[[int], None] | None = None):
        self.name, self.worker, self.policy = name, worker, policy
        self._redis = redis
        self._on_limit = on_limit or (lambda _limit: None)
        self._cond = threading.Condition()
        self.held = self.usable = self.in_use = self.waiting = self.peak = 0
        self.current, self.live = policy.limit, 1
        self._valid_until = 0.0
        self._refilling = False
        self._next_refill = 0.0
        self._backoff = REFILL_BACKOFF[0]
        self._last_cut = -math.inf
        self._latency: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- Redis ---------------------------------------------------------------------------------
    def keys(self) -> list[str]:
        return [f"sec:budget:{self.name}:{part}" for part in ("holders", "leases", "starving", "limit")]

    def _lease(self, demand: int, floor: int) -> Grant | None:
        """One renewal; None when Redis did not answer (the lease then runs out on its own)."""
        policy = self.policy
        try:
            answer = scripts.run(self._redis(), scripts.LEASE, self.keys(), self.worker, demand, floor,
                                 int(policy.ttl * 1000), policy.limit, int(policy.raise_every * 1000))
        except Exception as exc:  # noqa: BLE001 - any Redis failure: no renewal, the lease runs out
            log.warning("call budget %s not renewed: %s", self.name, type(exc).__name__)
            return None
        return Grant(*(int(value) for value in answer))

    def _apply(self, grant: Grant, sent_at: float) -> None:
        """Under the lock: what Redis granted, trusted until the lease could lapse."""
        self.held, self.usable, self.live = grant.held, grant.usable, grant.live
        self._valid_until = sent_at + self.policy.trust
        self._set_current(grant.current)
        self._cond.notify_all()

    def _set_current(self, current: int) -> None:
        if current != self.current:
            log.info("Epicor call budget %s: deployment limit now %d", self.name, current)
        self.current = current
        self._on_limit(current)

    # -- the semaphore ---------------------------------------------------------------------------
    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            self.waiting += 1
            try:
                return self._wait_for_permit(deadline)
            finally:
                self.waiting -= 1

    def _wait_for_permit(self, deadline: float) -> bool:
        while True:
            now = time.monotonic()
            if now < self._valid_until and self.in_use < self.usable:
                self.in_use += 1
                self.peak = max(self.peak, self.in_use + self.waiting - 1)
                return True
            if now >= deadline:
                return False
            if not self._refilling and now >= self._next_refill:
                self._refill(now)
                continue
            self._cond.wait(max(0.001, min(deadline, max(self._next_refill, now + 0.005)) - now))

    def _refill(self, now: float) -> None:
        """Ask Redis for more, outside the lock; one thread at a time, pausing longer after each miss."""
        self._refilling = True
        demand, floor = self.in_use + self.waiting, self.in_use
        self._cond.release()
        try:
            grant = self._lease(demand, floor)
        finally:
            self._cond.acquire()
            self._refilling = False
        gained = grant is not None and grant.usable > self.in_use
        if grant is not None:
            self._apply(grant, now)
        self._backoff = REFILL_BACKOFF[0] if gained else min(self._backoff * 2, REFILL_BACKOFF[1])
        self._next_refill = time.monotonic() + (0 if gained else self._backoff)

    def release(self) -> None:
        with self._cond:
            self.in_use -= 1
            self._cond.notify()

    # -- heartbeat -------------------------------------------------------------------------------
    def renew(self) -> Grant | None:
        """One heartbeat: ask for the peak need since the last one; surplus permits go back."""
        with self._cond:
            demand, floor = max(self.peak, self.in_use + self.waiting), self.in_use
            self.peak = self.in_use + self.waiting
        sent_at = time.monotonic()
        grant = self._lease(demand, floor)
        if grant is not None:
            with self._cond:
                self._apply(grant, sent_at)
        return grant

    def start(self) -> None:
        """The heartbeat thread (a daemon: it must never keep a stopping worker alive)."""
        if self._thread is None:
            self.renew()
            self._thread = threading.Thread(target=self._beat, name=f"budget-{self.name}", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.policy.heartbeat):
            self.renew()

    def stop(self) -> None:
        """Leave: no more renewals, every permit given back at once (a dead worker's wait for its TTL)."""
        self._stop.set()
        with self._cond:
            self._valid_until = 0.0
        try:
            scripts.run(self._redis(), scripts.RETIRE, self.keys(), self.worker)
        except Exception:  # noqa: BLE001 - the lease lapses by itself anyway
            log.info("call budget %s: permits left to expire", self.name)

    # -- adaptive back-off -------------------------------------------------------------------------
    def congested(self, reason: str) -> None:
        """Epicor refused for licences, answered 429/503, timed out or slowed down: halve the limit."""
        now = time.monotonic()
        if now - self._last_cut < self.policy.cooldown:
            return  # this process asked already within the cool-down; Redis would refuse anyway
        self._last_cut = now
        try:
            current, cut = scripts.run(self._redis(), scripts.CUT, self.keys(), self.policy.limit,
                                       int(self.policy.cooldown * 1000))
        except Exception as exc:  # noqa: BLE001 - no cut this time; the calls still retry with backoff
            log.warning("call budget %s not lowered: %s", self.name, type(exc).__name__)
            return
        with self._cond:
            if int(cut):
                log.warning("Epicor call budget %s halved to %s (%s)", self.name, current, reason)
            self._set_current(int(current))
            self.usable = min(self.usable, max(1, int(current) // max(self.live, 1)))
        self._latency = None

    def observe(self, seconds: float) -> None:
        """A successful call's duration: a smoothed figure above ``slow_call`` is congestion too."""
        if self.policy.slow_call <= 0:
            return
        smoothed = seconds if self._latency is None else 0.8 * self._latency + 0.2 * seconds
        self._latency = smoothed
        if smoothed > self.policy.slow_call:
            self.congested("latency")


class LocalPermits:
    """The bound for a process outside a worker (a CLI command, a test): its own semaphore only."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit)
        self.current = limit

    def acquire(self, timeout: float) -> bool:
        return self._slots.acquire(timeout=timeout)

    def release(self) -> None:
        self._slots.release()

    def congested(self, reason: str) -> None:
        """Nothing to share outside a worker: the retry's backoff is the back-off."""

    def observe(self, seconds: float) -> None:
        """Latency is watched by the shared budget only."""

    def stop(self) -> None:
        """Nothing held elsewhere."""
