"""Fault switches for chaos tests and benchmarks, applied to the Epicor REST routes only.

``latency_ms`` delays every REST request; ``error_rate`` answers that fraction of requests with a
500/503 before anything else happens; ``license_exhausted`` answers every request with Epicor's
"Maximum users exceeded" licence error, ``license_burst`` only the next N, and ``license_limit`` K
with ``license_limit_seconds`` S a window of S seconds (from the PUT that sets S) during which a
request arriving while more than K are in flight gets it, as a server whose integration licences
are all held would answer (K 0: no such window); and
``commit_then_timeout_rate`` makes that fraction of POST creates commit and then hold the response
for ``timeout_seconds``, which is how a client sees a timeout after a write that did happen.
All draws come from one ``random.Random(seed)``, so a seeded run is reproducible.

Two switches aim at one entity set or method (its name as the URL spells it, case-insensitive), so a
test can place a crash or a timeout at one step of a sequence instead of drawing it:
``path_latency_ms`` ``{"CreateBankTran": 8000}`` delays every request to that name (on top of
``latency_ms``), and ``commit_then_timeout_paths`` ``{"CreateBankTranRecords": 1}`` makes the next N
committed writes to that name hold their response for ``timeout_seconds`` (each one consumes one).
"""

from __future__ import annotations

import copy
import random
import threading
import time
from typing import Any

from .errors import api_error

DEFAULT_FAULTS: dict[str, Any] = {
    "latency_ms": 0, "error_rate": 0.0, "license_exhausted": False, "license_burst": 0,
    "commit_then_timeout_rate": 0.0, "timeout_seconds": 35, "seed": None,
    "license_limit": 0, "license_limit_seconds": 0,
    "path_latency_ms": {}, "commit_then_timeout_paths": {},
}

_RATES = ("error_rate", "commit_then_timeout_rate")
_NON_NEGATIVE = ("latency_ms", "timeout_seconds")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _per_path(value: Any, *, whole: bool) -> bool:
    """A ``{name: non-negative number}`` switch (whole numbers only when ``whole``)."""
    if not isinstance(value, dict):
        return False
    return all(isinstance(name, str) and name and _is_number(count) and count >= 0
               and (not whole or isinstance(count, int)) for name, count in value.items())


def _check(name: str, value: Any) -> None:
    """Reject a switch value of the wrong type or range (400)."""
    if name not in DEFAULT_FAULTS:
        raise api_error(400, f"Unknown fault switch '{name}'.")
    valid = {
        "path_latency_ms": _per_path(value, whole=False),
        "commit_then_timeout_paths": _per_path(value, whole=True),
        "license_exhausted": isinstance(value, bool),
        "license_burst": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "license_limit": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "seed": value is None or (isinstance(value, int) and not isinstance(value, bool)),
    }.get(name)
    if valid is None:
        low_ok = _is_number(value) and value >= 0
        valid = low_ok and (name not in _RATES or value <= 1)
    if not valid:
        raise api_error(400, f"Invalid value for fault switch '{name}': {value!r}.")


class FaultSwitches:
    """The current fault settings and the random source behind them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = copy.deepcopy(DEFAULT_FAULTS)
        self._random = random.Random()
        self._limit_until = 0.0  # monotonic end of the license_limit window

    def snapshot(self) -> dict[str, Any]:
        """The current switches."""
        with self._lock:
            return copy.deepcopy(self._values)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` (all validated first) and return the result."""
        for name, value in changes.items():
            _check(name, value)
        with self._lock:
            self._values.update(changes)
            for per_path in ("path_latency_ms", "commit_then_timeout_paths"):
                if per_path in changes:  # keyed case-insensitively, as service and set names are matched
                    self._values[per_path] = {key.lower(): count for key, count in changes[per_path].items()}
            if "license_limit_seconds" in changes:
                self._limit_until = time.monotonic() + float(changes["license_limit_seconds"])
            if "seed" in changes:
                self._random.seed(changes["seed"])
        return self.snapshot()

    def reset(self) -> None:
        """Back to no faults and an unseeded random source."""
        with self._lock:
            self._values = copy.deepcopy(DEFAULT_FAULTS)
            self._random = random.Random()
            self._limit_until = 0.0

    def latency_seconds(self, name: str = "") -> float:
        """How long to sleep before handling a request to entity set or method ``name``."""
        with self._lock:
            extra = self._values["path_latency_ms"].get(name.lower(), 0)
            return float(self._values["latency_ms"] + extra) / 1000.0

    def draw_server_error(self) -> int | None:
        """500 or 503 when this request should fail outright, else None."""
        with self._lock:
            rate = self._values["error_rate"]
            if rate <= 0 or self._random.random() >= rate:
                return None
            return self._random.choice((500, 503))

    def take_license_denial(self, in_flight: int = 0) -> bool:
        """Whether this request is refused for lack of a licence (consumes one burst); ``in_flight``
        counts the requests being served, this one included."""
        with self._lock:
            if self._values["license_exhausted"]:
                return True
            limit = self._values["license_limit"]
            if limit and in_flight > limit and time.monotonic() < self._limit_until:
                return True
            if self._values["license_burst"] > 0:
                self._values["license_burst"] -= 1
                return True
            return False

    def draw_commit_timeout(self, name: str = "") -> float | None:
        """Seconds to hold a committed write's response to entity set or method ``name``, or None to
        answer at once (a ``commit_then_timeout_paths`` count is consumed before any draw)."""
        with self._lock:
            aimed = self._values["commit_then_timeout_paths"]
            if aimed.get(name.lower(), 0) > 0:
                aimed[name.lower()] -= 1
                return float(self._values["timeout_seconds"])
            rate = self._values["commit_then_timeout_rate"]
            if rate <= 0 or self._random.random() >= rate:
                return None
            return float(self._values["timeout_seconds"])
