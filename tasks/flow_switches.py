"""Flows an administrator switched off: their events are recorded ``ignored`` with who, when and why.

Policy, and why:

* **Off is a decision, recorded.** An admin switches a flow off (and on) from the console's Flows page with
  a required comment; the switch (who, when, comment) is one Redis hash (``sec:flow_switches``, field =
  flow) so every worker on every host sees it, and each change is an ``operator_action`` in the history.
* **Events of a flow that is off are not lost, and not posted.** The receiver still records and queues
  them (it never reads a switch: ingest speed); the chain's first stage finds the flow off and records the
  event ``ignored`` with the reason "flow <x> switched off by <who> at <when>: <comment>", so the event,
  its payment and that reason stay searchable in the console. Nothing replays them by itself when the flow
  is switched on again: the catch-up leaves recorded events alone (README, "Flow view": what to do with
  them). An event already past ``fetch`` when the switch flips finishes normally.
* **No round trip per event.** A worker reads the hash at most once a second per process
  (``switched_off``); in steady state a stage pays a clock read and a dict look-up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast

import redis

from tasks import store

log = logging.getLogger(__name__)
READ_EVERY = 1.0  # seconds: the longest a worker goes on running a flow after it was switched off
MAX_COMMENT = 1000


def switches_key() -> str:
    return store.key("flow_switches")


class SwitchRefused(ValueError):
    """A switch change that cannot be made; the message says why."""


def switch(flow: str, *, on: bool, who: str, comment: str) -> dict[str, Any]:
    """Switch ``flow`` off (or back on); the comment is required. Returns the flow's switch as now set."""
    if not comment.strip():
        raise SwitchRefused("a comment is required: say why the flow is switched " + ("on" if on else "off"))
    entry = {"off": not on, "who": who, "at": store.now(), "comment": comment.strip()[:MAX_COMMENT]}
    store.client().hset(switches_key(), flow, json.dumps(entry))
    from history import recorder

    recorder.record("operator_action", who=who, action="flow_on" if on else "flow_off", target=f"flow:{flow}",
                    comment=entry["comment"])
    log.info("flow switched %s", "on" if on else "off")
    return {"flow": flow, **entry}


def all_switches() -> dict[str, dict[str, Any]]:
    """Every flow ever switched, as last set: ``{flow: {off, who, at, comment}}`` (read from Redis now)."""
    raw = cast("dict[str, str]", store.client().hgetall(switches_key()))
    return {flow: json.loads(value) for flow, value in raw.items()}


def reason(flow: str, entry: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(float(entry.get("at") or 0), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"flow {flow} switched off by {entry.get('who') or '?'} at {when}: {entry.get('comment') or ''}"


# -- the worker's view: read at most once a second -----------------------------------------------------
class _Seen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.off: dict[str, str] = {}  # flow -> the reason its events are ignored
        self.checked = float("-inf")


_seen = _Seen()


def switched_off(flow: str | None) -> str | None:
    """The reason events of ``flow`` are ignored now, or None when it runs. Redis away: the last answer stands."""
    if time.monotonic() - _seen.checked >= READ_EVERY:
        _refresh()
    return _seen.off.get(flow or "")


def _refresh() -> None:
    with _seen.lock:
        if time.monotonic() - _seen.checked < READ_EVERY:
            return
        _seen.checked = time.monotonic()
        try:
            switches = all_switches()
        except redis.RedisError:
            log.warning("flow switches not read: Redis unavailable; the last ones read stand")
            return
        _seen.off = {flow: reason(flow, entry) for flow, entry in switches.items() if entry.get("off")}


def forget() -> None:
    """Drop what this process read (tests)."""
    with _seen.lock:
        _seen.off, _seen.checked = {}, float("-inf")


def ignore_if_off(task: Any, envelope: dict[str, Any]) -> None:
    """In the chain's first stage: when the event's flow is off, record the event ``ignored`` with the reason
    and stop the chain (Celery's ``Ignore``); otherwise return at once."""
    why = switched_off(envelope.get("flow"))
    if why is None:
        return
    from celery.exceptions import Ignore

    from telemetry import metrics

    begun = store.begin_stage(envelope["event_id"], "fetch", task.request.retries + 1)
    if begun is not None:  # None: already finished (a redelivered message)
        metrics.stage_ran(str(envelope.get("flow")), "fetch", "skipped", 0.0, envelope.get("pair") or "default")
        task._finish({**envelope, "id": envelope["event_id"], **begun[0]}, posted=False, state="ignored",
                     reason=why)
        log.info("event ignored: its flow is switched off")
    raise Ignore()
