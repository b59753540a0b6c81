"""Outbound events, as a site's BPM + Epicor Function would send them (contract §7), switchable.

A real site has no webhooks: a BPM data directive writes each customer or sales-order change to a UD
outbox table, and a scheduled Epicor Function drains it, POSTing signed events. This module plays both
parts for the sandbox:

- Switched on with ``PUT /_sandbox/epicor/settings`` ``{"emit_events_to": url, "secret": "...",
  "emit_delay_ms": 300}`` (``emit_events_to: null`` switches it off; ``reset`` too). While on, every
  REST create of a ``Customers`` / ``SalesOrders`` row queues ``Customer.Created`` /
  ``SalesOrder.Created``, and every PATCH that really changed the row (its ``SysRevID`` moved) queues
  ``Customer.Updated`` / ``SalesOrder.Updated``. ``event_types`` narrows which are sent.
- The REST request only puts the event on an in-memory queue, after its transaction has committed, so
  the call is not slowed and the store's write lock is never held while sending. One background thread
  (the "scheduled Function") sends each event ``emit_delay_ms`` after the change, with the body
  ``{"id", "type", "company", "key", "occurred_at"}`` and ``X-Epicor-Signature: t=<unix>,v1=<hex
  HMAC-SHA256 of "t.body">``, re-signed on every attempt, retrying a failed delivery (non-2xx or no
  answer) up to ``max_attempts`` times with a doubling pause, as the README's Function does.
- ``GET /_sandbox/epicor/events`` lists the last deliveries and how many are still pending, so tests
  can wait for the outbox to drain.
"""

from __future__ import annotations

import collections
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from sandbox.signing import compute_signature

from .errors import api_error

SIGNATURE_HEADER = "X-Epicor-Signature"
USER_AGENT = "Epicor-Function-Outbox/1.0 (sandbox)"
# Entity set -> (created type, updated type, key field).
EVENT_SOURCES = {"Customers": ("Customer.Created", "Customer.Updated", "CustNum"),
                 "SalesOrders": ("SalesOrder.Created", "SalesOrder.Updated", "OrderNum")}
ALL_TYPES = tuple(name for created, updated, _ in EVENT_SOURCES.values() for name in (created, updated))
SETTING_NAMES = frozenset({"emit_events_to", "secret", "emit_delay_ms", "max_attempts", "event_types"})
HTTP_TIMEOUT = 10
KEPT_DELIVERIES = 2000


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """``t=<unix>,v1=<lower-case hex HMAC-SHA256 of "<t>.<body>">``, as contract §7 defines it."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={stamp},v1={compute_signature(body, secret, stamp)}"


def build_event(event_type: str, company: str, key: dict[str, int], event_id: str | None = None) -> dict[str, Any]:
    """One event body: unique id, type, company, key and the time of the change (UTC)."""
    occurred = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": event_id or str(uuid.uuid4()), "type": event_type, "company": company, "key": key,
            "occurred_at": occurred}


def event_body(event: dict[str, Any]) -> bytes:
    """Compact JSON, the bytes that are signed and sent."""
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def deliver(url: str, body: bytes, secret: str, timestamp_offset: int = 0,
            session: requests.Session | None = None) -> tuple[int, str]:
    """POST one signed event; (HTTP status or 0 when there was no answer, a short text)."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: signature_header(body, secret, int(time.time()) + timestamp_offset)}
    try:
        answer = (session or requests).post(url, data=body, headers=headers, timeout=HTTP_TIMEOUT)
    except requests.RequestException as failure:
        return 0, type(failure).__name__
    return answer.status_code, answer.text[:500]


@dataclass
class EmitterSettings:
    """Where events go and how the outbox is drained."""

    emit_events_to: str | None = None
    secret: str = field(default="", repr=False)
    emit_delay_ms: int = 300
    max_attempts: int = 5
    event_types: tuple[str, ...] = ALL_TYPES

    def public(self) -> dict[str, Any]:
        """As ``GET /_sandbox/epicor/settings`` shows them: never the secret itself."""
        return {"emit_events_to": self.emit_events_to, "secret_set": bool(self.secret),
                "emit_delay_ms": self.emit_delay_ms, "max_attempts": self.max_attempts,
                "event_types": list(self.event_types)}


class EventEmitter:
    """The outbox of one emulated company: a queue and the thread that drains it."""

    def __init__(self, company: str) -> None:
        self.company = company
        self.settings = EmitterSettings()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, float, dict[str, Any]]] = queue.Queue()
        self._generation = 0
        self._pending = 0
        self._deliveries: collections.deque[dict[str, Any]] = collections.deque(maxlen=KEPT_DELIVERIES)
        self._thread: threading.Thread | None = None

    # settings ------------------------------------------------------------------------------------
    def configure(self, changes: dict[str, Any]) -> None:
        """Merge validated settings (400 on a bad value); switching on needs a URL and a secret."""
        merged = {**self.settings.__dict__, **{name: changes[name] for name in SETTING_NAMES if name in changes}}
        _check(merged)
        with self._lock:
            self.settings = EmitterSettings(**{**merged, "event_types": tuple(merged["event_types"])})

    def reset(self) -> None:
        """Off, nothing pending (queued events are dropped), no delivery history."""
        with self._lock:
            self.settings = EmitterSettings()
            self._generation += 1
            self._pending = 0
            self._deliveries.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"pending": self._pending, "deliveries": list(self._deliveries)}

    # changes -------------------------------------------------------------------------------------
    def row_created(self, set_name: str, row: dict[str, Any]) -> None:
        if set_name in EVENT_SOURCES:
            created, _, key_field = EVENT_SOURCES[set_name]
            self._enqueue(created, {key_field: int(row[key_field])})

    def row_updated(self, set_name: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        if set_name not in EVENT_SOURCES or before is None or after is None:
            return
        if before.get("SysRevID") != after.get("SysRevID"):
            _, updated, key_field = EVENT_SOURCES[set_name]
            self._enqueue(updated, {key_field: int(after[key_field])})

    def _enqueue(self, event_type: str, key: dict[str, int]) -> None:
        with self._lock:
            settings = self.settings
            if not settings.emit_events_to or event_type not in settings.event_types:
                return
            self._pending += 1
            generation = self._generation
            self._start_thread()
        due = time.monotonic() + settings.emit_delay_ms / 1000
        self._queue.put((generation, due, build_event(event_type, self.company, key)))

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="epicor-outbox", daemon=True)
            self._thread.start()

    # the "scheduled Function" --------------------------------------------------------------------
    def _drain(self) -> None:
        session = requests.Session()
        while True:
            generation, due, event = self._queue.get()
            time.sleep(max(0.0, due - time.monotonic()))
            with self._lock:
                settings, current = self.settings, generation == self._generation
            if not current:
                continue
            record = self._send_with_retries(session, settings, event)
            with self._lock:
                if generation == self._generation:
                    self._pending -= 1
                    self._deliveries.append(record)

    def _send_with_retries(self, session: requests.Session, settings: EmitterSettings,
                           event: dict[str, Any]) -> dict[str, Any]:
        body, statuses = event_body(event), []
        for attempt in range(settings.max_attempts):
            if attempt:
                time.sleep(min(0.25 * 2 ** (attempt - 1), 5.0))
            status, _ = deliver(settings.emit_events_to or "", body, settings.secret, session=session)
            statuses.append(status)
            if 200 <= status < 300:
                break
        return {**event, "url": settings.emit_events_to, "statuses": statuses,
                "delivered": bool(statuses) and 200 <= statuses[-1] < 300}


def _check(settings: dict[str, Any]) -> None:
    """Reject settings a site could not have (400 with the reason)."""
    url = settings["emit_events_to"]
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise api_error(400, "emit_events_to must be an http(s) URL or null.")
    if not isinstance(settings["secret"], str) or (url and not settings["secret"]):
        raise api_error(400, "secret must be a non-empty string when events are switched on.")
    for name, top in (("emit_delay_ms", 600_000), ("max_attempts", 20)):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top or \
                (name == "max_attempts" and value == 0):
            raise api_error(400, f"{name} must be a whole number from {int(name == 'max_attempts')} to {top}.")
    types = settings["event_types"]
    if not isinstance(types, (list, tuple)) or any(name not in ALL_TYPES for name in types):
        raise api_error(400, f"event_types must be a list of {', '.join(ALL_TYPES)}.")
