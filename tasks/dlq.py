"""The dead-letter queue: one Redis record per event that could not be posted.

A record holds what an operator or accountant needs to act and to replay: the event, its flow, the
stage that failed and that stage's input, the error class, reason code and message, the number of
attempts and the first and last failure times. Policy:

- **Once per failure.** A record is written by one Lua script, so concurrent failures of the same event
  never race on a read-modify-write: the first creates the record, a later *different* failure (another
  chain of the same event) refreshes it and counts it, and a redelivered task that fails again with
  the same task id (a worker killed after dead-lettering) changes nothing.
- **Durable.** Records are plain Redis keys (``sec:dlq:<event id>`` hashes and the ``sec:dlq:index``
  sorted set by first failure), so Redis's AOF keeps them across worker and Redis restarts.
- **No secrets.** Every configured secret is masked in the record before it is written; stage inputs
  hold Stripe and Epicor data, never credentials.
- **Visible in Flower.** Each new or refreshed record also sends one small ``dlq.recorded`` task
  (event id, reason, message; the stage) to the ``dead_letter`` queue that workers consume: Flower lists
  the queue on its Broker page and each dead letter as a task; that task sends the alerts.
- **Removed only on purpose.** ``remove`` can be told which failure it removes, so a replay that fails
  again before the old record is dropped keeps the new record. ``discard`` removes a record an operator
  decided not to post, and keeps who, when and why on the event's record and in the history.
- **Grouped by cause.** ``group_key`` puts together records whose reason and message differ only by
  ids and times, so "14 x PartNum 'NEWPART-9' is not in Epicor" is one line an accountant acts on once.
- **Shown masked.** ``shown`` masks the configured secrets again (one rotated after the record was
  written included) and anything shaped like a Stripe secret key or a field named like a credential.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any, cast

from tasks import alerts, celery_app, store
from tasks.settings import get_settings

log = logging.getLogger(__name__)

INDEX_KEY = store.key("dlq", "index")
MESSAGE_LIMIT = 500

# KEYS: record hash, index. ARGV: event id, body JSON, failed-at, failure id.
# Returns the record's failure count after the write, or 0 when this failure was already recorded.
_WRITE = """
if redis.call('HGET', KEYS[1], 'failure_id') == ARGV[4] then return 0 end
local first = redis.call('HGET', KEYS[1], 'first_failed_at')
if not first then first = ARGV[3] end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'last_failed_at', ARGV[3], 'first_failed_at', first,
           'failure_id', ARGV[4])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('ZADD', KEYS[2], 'NX', first, ARGV[1])
return failures
"""

# KEYS: record hash, index. ARGV: event id, failure id ('' = whatever failure is recorded).
_REMOVE = """
local current = redis.call('HGET', KEYS[1], 'failure_id')
if not current then redis.call('ZREM', KEYS[2], ARGV[1]) return 0 end
if ARGV[2] ~= '' and current ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def record_key(event_id: str) -> str:
    return store.key("dlq", event_id)


def dead_letter(*, event: dict[str, Any], stage: str, stage_input: Any, error: dict[str, Any],
                attempts: int, failure_id: str) -> dict[str, Any] | None:
    """Record one failed event; returns the record, or None when this failure was already recorded."""
    event_id = event["id"]
    body = mask_secrets({
        "event_type": event.get("type"), "source": event.get("source", "stripe"),
        "object_id": event.get("object_id"), "flow": event.get("flow"), "stage": stage,
        "pair": event.get("pair") or "default",  # the integration pair (tasks.pairs)
        "stage_input": stage_input, **error, "attempts": attempts,
    })
    failures = int(store.client().eval(_WRITE, 2, record_key(event_id), INDEX_KEY, event_id,
                                       json.dumps(body), store.now(), failure_id))
    if not failures:
        log.info("dead-letter record already written for this failure")
        return None
    _announce(event_id, stage, str(body.get("reason")), str(body.get("message", "")), failures)
    return get(event_id)


def _announce(event_id: str, stage: str, reason: str, message: str, failures: int) -> None:
    """Queue the ``dlq.recorded`` marker; the record is already safe, so a broker hiccup only logs."""
    try:
        recorded.apply_async(args=(event_id, reason, message[:MESSAGE_LIMIT]),
                             kwargs={"stage": stage, "failures": failures}, queue="dead_letter", retry=False)
    except Exception:  # noqa: BLE001 - the record is written; the marker is a courtesy for Flower
        log.warning("dead-letter marker not queued; the record is in Redis")


@celery_app.task(name="dlq.recorded", ignore_result=True, acks_late=True)
def recorded(event_id: str, reason: str, message: str, *, stage: str = "", failures: int = 1) -> dict[str, Any]:
    """A dead letter as Flower shows it: the arguments say what failed; this alerts and reports depth."""
    depth_now = depth()
    if failures == 1:
        record = get(event_id) or {}
        alerts.dead_letter_alert(event_id=event_id, event_type=record.get("event_type"), stage=stage,
                                 reason=reason, message=message, depth=depth_now)
    alerts.depth_alert(depth_now)
    return {"dead_letter_depth": depth_now, "stage": stage, "reason": reason}


def mask_secrets(value: Any) -> Any:
    """``value`` with every configured secret replaced by ``[redacted]``, at any depth."""
    secrets = [s for s in get_settings().secrets if len(s) >= 4]
    return _mask(value, secrets) if secrets else value


def _mask(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[redacted]")
        return value
    if isinstance(value, dict):
        return {key: _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    return value


def _decode(event_id: str, raw: dict[str, str]) -> dict[str, Any] | None:
    if "body" not in raw:
        return None
    return {"id": event_id, **json.loads(raw["body"]), "failures": int(raw.get("failures", 1)),
            "first_failed_at": float(raw["first_failed_at"]), "last_failed_at": float(raw["last_failed_at"]),
            "failure_id": raw.get("failure_id", "")}


def get(event_id: str) -> dict[str, Any] | None:
    return _decode(event_id, cast("dict[str, str]", store.client().hgetall(record_key(event_id))))  # decoded reply


def list_records(limit: int = 10_000) -> list[dict[str, Any]]:
    """Records, oldest first failure first."""
    ids = cast("list[str]", store.client().zrange(INDEX_KEY, 0, limit - 1))  # decoded reply (store.client)
    pipe = store.client().pipeline(transaction=False)
    for event_id in ids:
        pipe.hgetall(record_key(event_id))
    return [record for event_id, raw in zip(ids, pipe.execute() if ids else [])
            if (record := _decode(event_id, raw))]


def depth() -> int:
    return int(store.client().zcard(INDEX_KEY))


def remove(event_id: str, failure_id: str = "") -> bool:
    """Drop a record; with ``failure_id``, only if that is still the failure recorded."""
    return bool(store.client().eval(_REMOVE, 2, record_key(event_id), INDEX_KEY, event_id, failure_id))


def discard(event_id: str, *, who: str, comment: str, failure_id: str = "") -> dict[str, Any] | None:
    """Drop a record on an operator's decision; the event stays ``dead`` with who, when and why on it.
    Returns the record dropped, or None when there was none (or it changed since ``failure_id``)."""
    record = get(event_id)
    if record is None or not remove(event_id, failure_id or record["failure_id"]):
        return None
    store.update_event(event_id, state="dead", discarded_at=store.now(), discarded_by=who,
                       discard_comment=comment)
    return record


# Ids and times vary between records of one cause; the part number or reason code does not.
_VARYING = (
    (re.compile(r"\b(?:evt|ch|pi|cs|cus|in|il|ii|re|dp|po|py|txn|pyr|prod|price|sub|src|card|pm)_[A-Za-z0-9]{6,}\b"),
     "<id>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
)


def normalised_message(message: str) -> str:
    for pattern, placeholder in _VARYING:
        message = pattern.sub(placeholder, message)
    return message


def group_key(record: dict[str, Any]) -> str:
    """A short stable key for the cause of a record: its reason, stage and normalised message."""
    cause = f"{record.get('reason')}\0{record.get('stage')}\0{normalised_message(str(record.get('message', '')))}"
    return hashlib.sha256(cause.encode()).hexdigest()[:16]


def groups(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records by cause, the largest group first: key, reason, stage, message, count, ids, times."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        key = group_key(record)
        group = found.setdefault(key, {
            "key": key, "reason": record.get("reason"), "stage": record.get("stage"),
            "message": normalised_message(str(record.get("message", ""))), "count": 0, "event_ids": [],
            "first_failed_at": record["first_failed_at"], "last_failed_at": record["last_failed_at"]})
        group["count"] += 1
        group["event_ids"].append(record["id"])
        group["first_failed_at"] = min(group["first_failed_at"], record["first_failed_at"])
        group["last_failed_at"] = max(group["last_failed_at"], record["last_failed_at"])
    return sorted(found.values(), key=lambda group: (-group["count"], group["first_failed_at"]))


_SECRET_SHAPES = re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+")
_CREDENTIAL_FIELD = re.compile(r"pass(word)?|secret|api[_-]?key|authorization|token|cvc|card_?number", re.I)


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """A record as an operator may see it: every secret masked, wherever it sits."""
    return cast("dict[str, Any]", _mask_shapes(mask_secrets(record)))


def _mask_shapes(value: Any, field: str = "") -> Any:
    if isinstance(value, str):
        return "[redacted]" if field and _CREDENTIAL_FIELD.search(field) else _SECRET_SHAPES.sub("[redacted]", value)
    if isinstance(value, dict):
        return {key: _mask_shapes(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_shapes(item, field) for item in value]
    return value


def audit(*, who: str, action: str, target: str, comment: str = "", result: str = "ok") -> None:
    """Record an operator's action in the history (``history.recorder``; never raises)."""
    try:
        from history.recorder import record
    except ImportError:  # the history package is optional for the pipeline; the log keeps the fact
        log.info("operator action %s on %s by %s (no history store)", action, target, who)
        return
    record("operator_action", who=who, action=action, target=target, comment=comment, result=result)
