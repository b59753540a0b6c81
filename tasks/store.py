"""Redis-backed records of the pipeline: events, stage inputs, posting journals, caches, locks.

Everything the pipeline must remember lives here under one key prefix, so operators can inspect it
with ``redis-cli`` and so Redis with AOF persistence makes it durable:

- ``sec:event:<id>``     hash: one event's life (state, stage, flow, Epicor keys, last error).
- ``sec:inflight``       sorted set: events not finished yet, by their last progress (recovery sweep).
- ``sec:lead:<group>``   the event in flight for one payment; ``sec:followers:<id>`` the events queued
  behind it (they finish with it instead of each fetching and posting the same payment at once).
- ``sec:stage:<id>:<s>`` JSON: the input of stage ``s`` for that event. Stage inputs can hold personal
  data (names, addresses), so they stay in Redis and only ids travel through the broker (and Flower).
- ``sec:journal:<key>``  hash: which Epicor documents of one payment are already posted. An
  optimisation only: when it is lost, Epicor look-ups by external reference take over.
- ``sec:cache:*``        short-lived caches of Epicor master data (parts, customers, groups); each
  process also keeps what it read or wrote there for a minute.
- ``sec:lock:*``         locks serialising postings per Stripe customer.
- ``sec:history``        stream: what happened, on its way to the history database (``history``). Each
  write below that changes an event's state appends its record in the same round trip.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import redis

from history import recorder
from tasks import pairs, redis_clients
from tasks.errors import RetryableError
from tasks.settings import RedisSettings, env_int, get_settings

T = TypeVar("T")

PREFIX = "sec"
STAGE_TTL = 60 * 60 * 24 * 35
CACHE_TTL = 60 * 60
STATES = ("received", "processing", "done", "dead", "ignored")
FINISHED = ("done", "dead", "ignored")
INFLIGHT_KEY = "sec:inflight"

_local = threading.local()


def client() -> redis.Redis:
    """This thread's Redis client; commands fail fast instead of hanging when Redis is down.

    Each thread has its own client and so its own connection: with one pool shared by 64 worker
    threads, its lock was where the threads queued (a thread holding it loses the GIL, every other
    thread needing a connection waits). Redis serves thousands of connections; a worker process
    holds one per thread that talks to it.

    Replies are decoded (``decode_responses=True``), so they are ``str`` where redis-py's annotations
    say ``bytes | str``; readers here ``cast`` them to what they are.
    """
    where = get_settings().redis  # REDIS_URL, or the primary Sentinel names (tasks.redis_clients)
    clients: dict[RedisSettings, redis.Redis] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    found = clients.get(where)
    if found is None:
        found = clients[where] = redis_clients.connect(
            where, decode_responses=True, socket_timeout=5, socket_connect_timeout=3,
            health_check_interval=10, retry_on_timeout=True)
    return found


# What is kept per Epicor company: for an integration pair other than the default (``tasks.pairs.current``,
# set by the stage from its envelope and by the receiver), these keys are ``sec:pair:<pair>:<name>:…``, so
# one pair's journal, caches, locks, payment leads and reports are never another's. Events, stage inputs
# and dead letters stay deployment-wide: their records carry the pair (and a non-default pair's event ids
# are ``<pair>:<id>``).
PAIR_SCOPED = frozenset({"journal", "cache", "lock", "payment-of", "lead", "sync", "standing", "payout", "payouts"})


def key(*parts: str) -> str:
    if parts and parts[0] in PAIR_SCOPED:
        pair = pairs.current.get()
        if pair != pairs.DEFAULT:
            return ":".join((PREFIX, "pair", pair, *parts))
    return ":".join((PREFIX, *parts))


def now() -> float:
    return round(time.time(), 3)


# -- events ------------------------------------------------------------------------------------
# One round trip on the receiver's hot path. KEYS: the event's hash, the in-flight index, and the
# payment's lead key when its flow coalesces. ARGV: event id, now, mode ("queue" or "ignore"), lead
# TTL, key prefix, the history record of a new event (``history.recorder``), then field, value …
# Returns {0, queued_at or ""} for an id seen before; {1, ""} for a new event the caller must queue
# (or, in mode "ignore", has recorded as ignored); {2, lead id} for a new event that waits for the
# lead event of its payment, which is in flight: it is queued behind it (``release_followers``).
_RECORD_EVENT = """
if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 0 then
  redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
  return {0, redis.call('HGET', KEYS[1], 'queued_at') or ''}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('XADD', ARGV[5] .. 'history', '*', 'r', ARGV[6])
if ARGV[3] == 'ignore' then return {1, ''} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if KEYS[3] then
  local lead = redis.call('GET', KEYS[3])
  if lead and lead ~= ARGV[1] then
    local state = redis.call('HGET', ARGV[5] .. 'event:' .. lead, 'state')
    if state == 'received' or state == 'processing' then
      redis.call('SADD', ARGV[5] .. 'followers:' .. lead, ARGV[1])
      redis.call('HSET', KEYS[1], 'queued_at', ARGV[2], 'waiting_for', lead)
      return {2, lead}
    end
  end
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
end
redis.call('HSET', KEYS[1], 'queued_at', ARGV[2])
return {1, ''}
"""
_scripts: dict[str, Any] = {}
LEAD_TTL = 60 * 60 * 24


@dataclass(frozen=True)
class Recorded:
    new: bool
    queued_at: str = ""   # for an id seen before: when it was queued ("" if its enqueue failed)
    waiting_for: str = ""  # for a new event queued behind its payment's lead event: that event's id


def _script(source: str) -> Any:
    """A Lua script bound to this thread's client (EVALSHA; loaded again after a Redis restart)."""
    redis_client = client()
    found = _scripts.get(source)
    if found is None:
        found = _scripts[source] = redis_client.register_script(source)
    return partial(found, client=redis_client)


def forget_clients() -> None:
    """Drop this thread's clients (the next command connects again, to the current ``REDIS_URL``)."""
    _local.__dict__.pop("clients", None)


def record_event(event: dict[str, Any], *, group: str | None = None, ignore: bool = False) -> Recorded:
    """Store a newly received event, deduplicated on its id, as queued (or as ignored).

    Events of one payment share a ``group``: while one of them (the lead) is in flight, the others
    are recorded as queued behind it instead of each running the chain at the same time; when the
    lead finishes they are finished or queued (``release_followers``).
    """
    at = now()
    fields: dict[str, Any] = {k: _encode(v) for k, v in event.items() if k != "id" and v is not None}
    fields.update(state="ignored" if ignore else "received", received_at=at, updated_at=at, deliveries=1)
    if ignore:
        fields.update(reason="no flow for this event type", finished_at=at)
    if group:
        fields["group"] = group
    pairs = [item for field, value in fields.items() for item in (field, value)]
    keys = [key("event", event["id"]), INFLIGHT_KEY] + ([key("lead", group)] if group and not ignore else [])
    history = _received_entry(event, fields, at)
    outcome, detail = _script(_RECORD_EVENT)(
        keys=keys, args=[event["id"], at, "ignore" if ignore else "queue", LEAD_TTL, PREFIX + ":", history, *pairs])
    if outcome == 0:
        return Recorded(new=False, queued_at=detail)
    return Recorded(new=True, waiting_for=detail if outcome == 2 else "")


def _received_entry(event: dict[str, Any], fields: dict[str, Any], at: float) -> str:
    return recorder.entry("event", id=event["id"], at=at, state=fields["state"], reason=fields.get("reason"),
                          **{name: event.get(name)
                             for name in ("type", "flow", "source", "object_id", "payment", "pair")})


def mark_unqueued(event_id: str) -> None:
    """Undo the queued mark of an event whose enqueue failed, so its redelivery queues it again."""
    client().hdel(key("event", event_id), "queued_at")


# KEYS: the group's lead key, the lead's followers set. ARGV: the lead's id, the key prefix, then the
# event fields to return. Returns each follower's id followed by those fields.
_RELEASE_FOLLOWERS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local followers = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
local found = {}
for _, id in ipairs(followers) do
  table.insert(found, id)
  for i = 3, #ARGV do table.insert(found, redis.call('HGET', ARGV[2] .. 'event:' .. id, ARGV[i]) or '') end
end
return found
"""
FOLLOWER_FIELDS = ("state", "waiting_for", "source", "type", "flow", "object_id", "pair")


def release_followers(group: str, lead_id: str) -> list[dict[str, str]]:
    """End a lead's turn: its group is free again; returns the events that were waiting for it, each
    with its id and ``FOLLOWER_FIELDS``, in the same round trip."""
    found = _script(_RELEASE_FOLLOWERS)(keys=[key("lead", group), key("followers", lead_id)],
                                        args=[lead_id, PREFIX + ":", *FOLLOWER_FIELDS])
    width = len(FOLLOWER_FIELDS) + 1
    rows = [found[i:i + width] for i in range(0, len(found), width)]
    return sorted(({"id": row[0], **dict(zip(FOLLOWER_FIELDS, row[1:]))} for row in rows), key=lambda f: f["id"])


# KEYS: the event's hash, the in-flight index, the stage's input (may not exist). ARGV: now, stage,
# attempt, event id, the history stream, its record of this step. One round trip at the start of every
# stage: {} for an event already finished, otherwise {the event's fields as a flat list, the stage's
# stored input or false}, marking it processing.
_BEGIN_STAGE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' or state == 'ignored' then return {} end
redis.call('HSET', KEYS[1], 'state', 'processing', 'stage', ARGV[2], 'attempts', ARGV[3], 'updated_at', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
redis.call('XADD', ARGV[5], '*', 'r', ARGV[6])
local serials = {}
for i = 4, #KEYS do serials[#serials + 1] = redis.call('HGET', KEYS[i], 'serial') or '0' end
return {redis.call('HGETALL', KEYS[1]), redis.call('GET', KEYS[3]), serials}
"""


def begin_stage(event_id: str, stage: str, attempt: int,
                serial_keys: Sequence[str] = ()) -> tuple[dict[str, Any], Any, dict[str, str]] | None:
    """Mark an event processing at ``stage`` and read it with the stage's stored input and the ``serial``
    of each hash in ``serial_keys`` (``tasks.published``), in one round trip; None when the event is
    already done or ignored (a redelivered message)."""
    at = now()
    history = recorder.entry("event", id=event_id, at=at, state="processing", stage=stage, attempt=attempt)
    found = _script(_BEGIN_STAGE)(
        keys=[key("event", event_id), INFLIGHT_KEY, key("stage", event_id, stage), *serial_keys],
        args=[at, stage, attempt, event_id, recorder.STREAM, history])
    if not found:
        return None
    flat, raw_input, serials = found
    event = {flat[i]: _decode(flat[i + 1]) for i in range(0, len(flat), 2)}
    return event, (json.loads(raw_input) if raw_input else None), dict(zip(serial_keys, map(str, serials)))


def get_event(event_id: str) -> dict[str, Any] | None:
    raw = cast("dict[str, str]", client().hgetall(key("event", event_id)))
    if not raw:
        return None
    return {field: _decode(value) for field, value in raw.items()}


def update_event(event_id: str, **fields: Any) -> None:
    fields["updated_at"] = now()
    pipe = client().pipeline()
    pipe.hset(key("event", event_id), mapping={k: _encode(v) for k, v in fields.items()})
    state = fields.get("state")
    if state in FINISHED:
        pipe.zrem(INFLIGHT_KEY, event_id)
    else:  # any update is progress; only a (re)started event joins the in-flight index
        pipe.zadd(INFLIGHT_KEY, {event_id: fields["updated_at"]}, xx=not state)
    history = recorder.event_update_entry(event_id, fields)
    if history:
        recorder.add_to(pipe, history)
    pipe.execute()


def stalled_events(idle_seconds: float, limit: int = 500) -> list[str]:
    """Ids of events in flight that made no progress for ``idle_seconds`` (oldest first)."""
    return cast("list[str]", client().zrangebyscore(INFLIGHT_KEY, "-inf", now() - idle_seconds, start=0, num=limit))


def _encode(value: Any) -> str:
    if isinstance(value, (dict, list, bool)) or value is None:
        return json.dumps(value)
    return str(value)


def _decode(value: str) -> Any:
    if value[:1] in "{[" or value in ("null", "true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- stage inputs --------------------------------------------------------------------------------
def put_stage_input(event_id: str, stage: str, payload: Any, *, history: Sequence[dict[str, Any]] = (),
                    **event_fields: Any) -> None:
    """Store the input of ``stage``, any fields of the event's record and its ``history`` records, in one
    round trip."""
    pipe = client().pipeline(transaction=False)
    pipe.set(key("stage", event_id, stage), json.dumps(payload), ex=STAGE_TTL)
    if event_fields:
        pipe.hset(key("event", event_id), mapping={k: _encode(v) for k, v in event_fields.items()})
    for record in history:
        recorder.add_to(pipe, recorder.entry(**record))
    pipe.execute()


def get_stage_input(event_id: str, stage: str) -> Any:
    raw = client().get(key("stage", event_id, stage))
    if raw is None:
        raise RetryableError(f"Input of stage {stage} for {event_id} is not in Redis yet",
                             reason="pipeline.input_missing")
    return json.loads(raw)


# -- journal and caches --------------------------------------------------------------------------
def journal(journal_key: str) -> dict[str, str]:
    return cast("dict[str, str]", client().hgetall(key("journal", journal_key)))


def journal_set(journal_key: str, **steps: str | int) -> None:
    client().hset(key("journal", journal_key), mapping={k: str(v) for k, v in steps.items()})


def complete_payment(payment_key: str, *object_ids: str) -> None:
    """Mark a payment's journal complete and remember which charge, PaymentIntent or Checkout Session
    ids belong to it (so its other events finish early), together, in one round trip."""
    pipe = client().pipeline(transaction=True)
    pipe.hset(key("journal", payment_key), "complete", "1")
    for object_id in object_ids:
        pipe.set(key("payment-of", object_id), payment_key, ex=STAGE_TTL)
    pipe.execute()


def payment_of(object_id: str) -> str | None:
    return cast(str | None, client().get(key("payment-of", object_id)))


# Master data the caches hold (a part exists, a group exists, the CustNum of an e-mail) is also kept
# in the process for a minute, so the worker's threads do not each ask Redis for it per payment.
LOCAL_CACHE_SECONDS = 60.0
LOCAL_CACHE_MAX = 10_000
_local_cache: dict[str, tuple[str, float]] = {}


def cache_get(*parts: str) -> str | None:
    name = key("cache", *parts)
    found = _local_cache.get(name)
    if found and found[1] > time.monotonic():
        return found[0]
    value = cast("str | None", client().get(name))
    if value is not None:
        _remember_locally(name, value, LOCAL_CACHE_SECONDS)
    return value


def cache_set(value: str | int, *parts: str, ttl: int = CACHE_TTL) -> None:
    name = key("cache", *parts)
    client().set(name, str(value), ex=ttl)
    _remember_locally(name, str(value), min(ttl, LOCAL_CACHE_SECONDS))


def cache_forget(*parts: str) -> None:
    """Drop a cached value here and in Redis (it turned out to be wrong)."""
    name = key("cache", *parts)
    _local_cache.pop(name, None)
    client().delete(name)


def forget_local_cache() -> None:
    _local_cache.clear()


def _remember_locally(name: str, value: str, seconds: float) -> None:
    if len(_local_cache) >= LOCAL_CACHE_MAX:
        _local_cache.clear()
    _local_cache[name] = (value, time.monotonic() + seconds)


def _acquire(name: str, timeout: int | None, wait: float) -> Any:
    """The lock ``name`` (expiring after ``timeout`` s, ``LOCK_TIMEOUT_SECONDS`` by default), or None
    when another holder kept it ``wait`` seconds."""
    timeout = timeout or env_int("LOCK_TIMEOUT_SECONDS", 120)
    lock = client().lock(key("lock", name), timeout=timeout, blocking_timeout=wait, thread_local=False)
    return lock if lock.acquire() else None


def _release(lock: Any) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:
        pass  # expired while we worked; the journal and look-ups keep the next holder safe


@contextmanager
def locked(name: str, *, timeout: int | None = None, wait: float = 15.0) -> Iterator[None]:
    """Serialise a critical section across workers; a busy lock is a retryable condition.

    The lock expires after ``timeout`` seconds (``LOCK_TIMEOUT_SECONDS``, 120 by default) so that a
    worker killed while holding it blocks that customer's postings only that long.
    """
    lock = _acquire(name, timeout, wait)
    if lock is None:
        raise RetryableError(f"Another worker is posting for {name}", reason="pipeline.lock_busy", retry_after=2)
    try:
        yield
    finally:
        _release(lock)


def unless_running(name: str, run: Callable[[], T], *, timeout: int) -> T | None:
    """``run()`` under the lock ``name``, or None at once when another run holds it (a periodic job
    that must not overlap itself). What ``run`` raises propagates: it is never taken for a busy lock."""
    lock = _acquire(name, timeout, wait=0.5)
    if lock is None:
        return None
    try:
        return run()
    finally:
        _release(lock)
