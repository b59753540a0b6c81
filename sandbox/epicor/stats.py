"""Call statistics: how many REST requests each (method, entity set) received since the last reset.

Benchmarks read these to report Epicor round trips per Stripe event, the project's cost metric. A key
lookup or navigation counts under the set it starts from (``GET Customers`` for
``Customers('EPIC06',201)``); faulted and rejected requests count too, since they cost a round trip.
``GET stats/in-flight``: ``in_flight``, how many REST requests are being served now, and
``max_in_flight``, the most at once since the last reset (injected latency included): what a test
of a deployment-wide limit on concurrent calls reads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class CallStats:
    """Thread-safe counters keyed ``"METHOD EntitySet"``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self.in_flight = 0
        self._most_in_flight = 0

    def count(self, method: str, entity_set: str) -> None:
        """Record one request."""
        with self._lock:
            self._calls[f"{method} {entity_set}"] += 1

    @contextmanager
    def serving(self) -> Iterator[int]:
        """One REST request being served: yields how many are (this one included)."""
        with self._lock:
            self.in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self.in_flight)
            now = self.in_flight
        try:
            yield now
        finally:
            with self._lock:
                self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """``{"calls": {...}, "total": n}``."""
        with self._lock:
            return {"calls": dict(sorted(self._calls.items())), "total": sum(self._calls.values())}

    def in_flight_snapshot(self) -> dict[str, int]:
        """``{"in_flight": n, "max_in_flight": n}`` (``GET stats/in-flight``)."""
        with self._lock:
            return {"in_flight": self.in_flight, "max_in_flight": self._most_in_flight}

    def reset(self) -> None:
        """Forget every count (the peak starts again from the requests in flight now)."""
        with self._lock:
            self._calls.clear()
            self._most_in_flight = self.in_flight
