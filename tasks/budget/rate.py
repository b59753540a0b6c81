"""Deployment-wide calls per second: tokens taken from one Redis bucket in small blocks.

The bucket (``scripts.TOKENS``) refills at ``rate`` a second up to a quarter second's worth, so the
deployment's calls in any one second stay near ``rate``. A worker process reserves a block of tokens
(a tenth of a second's worth) in one round trip, waits until they are due, and spends them locally,
so the Redis cost is one round trip per block, not per call, even when several processes contend;
tokens it has not spent within half a second are dropped, so a process cannot hoard them for a
later burst.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from tasks.budget import scripts

log = logging.getLogger(__name__)
TOKEN_LIFETIME = 0.5


class SharedRate:
    """``acquire(timeout)`` takes one call's token; ``release()`` is a no-op (tokens are spent)."""

    def __init__(self, name: str, rate: float, redis: Callable[[], Any]):
        self.name, self.rate = name, rate
        self.capacity = max(1, math.ceil(rate / 4))
        self.block = max(1, min(self.capacity, math.ceil(rate / 10)))
        self._redis = redis
        self._lock = threading.Lock()
        self._tokens = 0
        self._expires = 0.0

    def key(self) -> str:
        return f"sec:budget:{self.name}:bucket"

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:  # one thread reserves a block while the others wait for it
            while True:
                now = time.monotonic()
                if self._tokens > 0 and now < self._expires:
                    self._tokens -= 1
                    return True
                if now >= deadline or not self._reserve(deadline - now):
                    return False

    def _reserve(self, patience: float) -> bool:
        """A block from the bucket, waiting until it is due; False when none is due within ``patience``."""
        try:
            granted, wait_ms = scripts.run(self._redis(), scripts.TOKENS, [self.key()], self.block,
                                           self.rate, self.capacity, int(patience * 1000))
        except Exception as exc:  # noqa: BLE001 - no tokens without Redis: the call fails, and is retried
            log.warning("rate budget %s not reached: %s", self.name, type(exc).__name__)
            time.sleep(min(patience, 0.5))
            return True  # the loop checks the deadline again
        if int(granted) == 0:
            return False
        time.sleep(int(wait_ms) / 1000)
        self._tokens, self._expires = int(granted), time.monotonic() + TOKEN_LIFETIME
        return True

    def release(self) -> None:
        """Tokens are spent by the call, not given back."""


class NoRate:
    """No calls-per-second limit configured."""

    def acquire(self, timeout: float) -> bool:
        return True

    def release(self) -> None:
        """Nothing taken."""
