"""When each outside system last answered, and when a periodic task last ran: the console's health tiles.

Policy:

- **Cheap.** The connectors call ``note_success`` / ``note_unreachable`` on every call, but only
  process memory is touched then; Redis is written at most once per ``NOTE_INTERVAL`` seconds per
  process and system (a tile needs seconds of precision, not every call). No call ever waits for an
  extra round trip beyond that one write.
- **Harmless.** A failed write is dropped silently: a health tile must never slow or break a posting.
- **Readable with redis-cli.** ``sec:liveness:<system>`` is a hash of ``last_success``,
  ``last_unreachable`` (Unix times) and the last unreachable ``reason``; ``sec:liveness:periodic``
  holds, per periodic task name, the time it last ran (written by the beat tasks themselves, so a
  fresh time proves that beat sends and a worker runs).
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from tasks import store

NOTE_INTERVAL = 5.0
SYSTEMS = ("epicor", "stripe")

_lock = threading.Lock()
_last_written: dict[str, float] = {}


def _key(name: str) -> str:
    return store.key("liveness", name)


def _due(slot: str, now: float) -> bool:
    """True at most once per ``NOTE_INTERVAL`` per slot in this process (the caller then writes)."""
    with _lock:
        if now - _last_written.get(slot, 0.0) < NOTE_INTERVAL:
            return False
        _last_written[slot] = now
        return True


def _write(name: str, fields: dict[str, str]) -> None:
    try:
        # Copied so the dict takes redis-py's key type (its Mapping key is invariant).
        store.client().hset(_key(name), mapping={field: value for field, value in fields.items()})
    except Exception:  # noqa: BLE001, S110 - a health note must never break the call it describes
        pass


def note_success(system: str) -> None:
    """A call to ``system`` ("epicor" or "stripe") was answered."""
    now = time.time()
    if _due(f"{system}:ok", now):
        _write(system, {"last_success": f"{now:.3f}"})


def note_unreachable(system: str, reason: str) -> None:
    """A call to ``system`` failed for want of an answer (timeout, connection, 5xx, busy)."""
    now = time.time()
    if _due(f"{system}:down", now):
        _write(system, {"last_unreachable": f"{now:.3f}", "reason": reason[:100]})


def note_periodic_run(task_name: str) -> None:
    """A periodic (beat) task started a run now; written every time (runs are minutes apart)."""
    _write("periodic", {task_name: f"{time.time():.3f}"})


def read() -> dict[str, Any]:
    """{system: {last_success, last_unreachable, reason}, "periodic": {task: time}} in one round trip."""
    pipe = store.client().pipeline(transaction=False)
    for name in (*SYSTEMS, "periodic"):
        pipe.hgetall(_key(name))
    replies = cast("list[dict[str, str]]", pipe.execute())
    found: dict[str, Any] = {}
    for name, raw in zip((*SYSTEMS, "periodic"), replies):
        found[name] = {field: (value if field == "reason" else float(value)) for field, value in raw.items()}
    return found


def forget() -> None:
    """Forget this process's throttle (tests; a fresh process starts empty anyway)."""
    with _lock:
        _last_written.clear()
