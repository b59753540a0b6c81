"""Call statistics: how many REST requests each (method, entity set) received since the last reset.

Benchmarks read these to report Epicor round trips per Stripe event, the project's cost metric. A key
lookup or navigation counts under the set it starts from (``GET Customers`` for
``Customers('EPIC06',201)``); faulted and rejected requests count too, since they cost a round trip.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallStats:
    """Thread-safe counters keyed ``"METHOD EntitySet"``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

    def count(self, method: str, entity_set: str) -> None:
        """Record one request."""
        with self._lock:
            self._calls[f"{method} {entity_set}"] += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"calls": {...}, "total": n}``."""
        with self._lock:
            return {"calls": dict(sorted(self._calls.items())), "total": sum(self._calls.values())}

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._calls.clear()
