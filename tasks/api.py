"""The enqueue API: the only part of ``tasks`` the web receiver imports (STYLE.md point 1).

``receive`` records an event (deduplicated on its id) and queues its chain; it returns only once the
chain is durably in the broker (or, for a second event of a payment whose first event is in flight,
durably recorded in Redis as queued behind it: ``tasks.followers``), or raises ``QueueUnavailable``
so the receiver answers 503 and the sender redelivers. A redelivery of an event whose earlier
enqueue failed is queued again: stages are idempotent, so a chain queued twice never posts twice.
Receiving costs two Redis round trips: one script records, deduplicates, groups and marks the event
queued; then its chain is published.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kombu.exceptions
import redis

from tasks import store
from tasks.chains import build_chain, envelope_for
from tasks.pairs import DEFAULT, working_for
from tasks.routing import coalescing_group, flow_for, payment_hint  # noqa: F401 - payment_hint: for the receiver

log = logging.getLogger(__name__)


class QueueUnavailable(RuntimeError):
    """Redis or the broker cannot take the event right now."""


@dataclass(frozen=True)
class Receipt:
    event_id: str
    status: str  # "queued", "duplicate" or "ignored"


_BROKER_ERRORS = (redis.exceptions.RedisError, kombu.exceptions.OperationalError, ConnectionError, OSError)


def receive(event: dict[str, Any]) -> Receipt:
    """Record and queue one verified event: {id, source, type, object_id, …small fields}."""
    flow = flow_for(event["type"], event.get("source") or "stripe")
    try:
        if (event.get("pair") or DEFAULT) == DEFAULT:
            return _receive(event | {"flow": flow})
        with working_for(event["pair"]):  # its payment's lead key is its pair's (tasks.store.key)
            return _receive(event | {"flow": flow})
    except _BROKER_ERRORS as exc:
        log.warning("queue unavailable: %s", type(exc).__name__)
        raise QueueUnavailable(str(exc)) from None


def _receive(event: dict[str, Any]) -> Receipt:
    flow = event["flow"]
    if not flow:
        store.record_event(event, ignore=True)
        return Receipt(event["id"], "ignored")
    recorded = store.record_event(event, group=coalescing_group(flow, event.get("payment")))
    if not recorded.new:
        if recorded.queued_at:
            return Receipt(event["id"], "duplicate")
        _publish(event)  # its earlier enqueue failed
        store.update_event(event["id"], queued_at=store.now())
        return Receipt(event["id"], "queued")
    if not recorded.waiting_for:
        _publish(event)
    return Receipt(event["id"], "queued")


def _publish(event: dict[str, Any]) -> None:
    """Queue an event's chain; if the broker refuses, the event is no longer marked queued, so that
    its redelivery queues it."""
    try:
        build_chain(envelope_for(event)).apply_async()
    except Exception:
        try:
            store.mark_unqueued(event["id"])
        except _BROKER_ERRORS:
            pass  # Redis is away too: the stall sweep queues the recorded event
        raise


def event_status(event_id: str) -> dict[str, Any] | None:
    try:
        return store.get_event(event_id)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


def ping() -> bool:
    try:
        return bool(store.client().ping())
    except _BROKER_ERRORS:
        return False


CONFIG_CHECK_SECONDS = 30.0  # /readyz is polled every few seconds; files and environment change rarely
_config_check: dict[str, Any] = {"at": -CONFIG_CHECK_SECONDS, "problems": []}


def configuration_faults() -> dict[str, str]:
    """Why events cannot run, by process: ``web`` (this process's own environment, checked at most
    every ``CONFIG_CHECK_SECONDS``) and each worker or beat that refused to start (``tasks.preflight``).
    Empty when none; a Redis that cannot be read hides only the recorded ones (``ping`` reports it)."""
    import time

    from tasks import preflight
    from tasks.settings import ConfigError

    if time.monotonic() - _config_check["at"] >= CONFIG_CHECK_SECONDS:
        _config_check.update(at=time.monotonic(), problems=preflight.configuration_problems("web"))
    faults = {"web": "; ".join(_config_check["problems"])} if _config_check["problems"] else {}
    try:
        recorded = preflight.recorded_faults()
    except (*_BROKER_ERRORS, ValueError, ConfigError):
        recorded = {}
    return faults | {role: str(entry.get("reason") or "") for role, entry in recorded.items()}


def payout_report(payout_id: str) -> dict[str, Any] | None:
    """The stored reconciliation report of a payout (``GET /api/payouts/<id>``), or None."""
    from tasks.flows.payout_reconciliation import load_report

    try:
        return load_report(payout_id)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


def payout_report_csv(payout_id: str) -> str | None:
    """The same report as CSV (``GET /api/payouts/<id>.csv``), or None."""
    from tasks.mapping.payouts import report_csv

    report = payout_report(payout_id)
    return report_csv(report) if report else None


# -- the operator console's live figures (app/console/views: overview, payouts, sync) --------------
# Redis is read in a few pipelined round trips per call; the console polls every few seconds, never
# per event. Every function raises ``QueueUnavailable`` when Redis cannot be read.
WORKER_PING_CACHE_SECONDS = 5.0
_worker_ping: dict[str, Any] = {"at": 0.0, "names": []}
EVENT_SUMMARY_FIELDS = ("flow", "type", "source", "state", "stage", "object_id", "attempts", "last_error",
                        "received_at", "updated_at", "epicor_keys")


def live_figures() -> dict[str, Any]:
    """What Redis knows now: {"queues": {queue: depth}, "dead_letters": n, "unfinished": n,
    "oldest_unfinished_at": received time or None, "epicor"/"stripe": their last answers,
    "periodic": {beat task: last run}} (times are Unix seconds)."""
    import celeryconfig
    from tasks import dlq, liveness
    from tasks.broker import queue_depth

    try:
        client = store.client()
        figures: dict[str, Any] = {"queues": {queue.name: queue_depth(client, queue.name)
                                              for queue in celeryconfig.task_queues}}
        pipe = client.pipeline(transaction=False)
        pipe.zcard(dlq.INDEX_KEY)
        pipe.zcard(store.INFLIGHT_KEY)
        pipe.zrange(store.INFLIGHT_KEY, 0, 0)
        dead, unfinished, oldest = pipe.execute()
        figures.update(dead_letters=int(dead), unfinished=int(unfinished),
                       oldest_unfinished_at=_received_at(oldest[0]) if oldest else None, **liveness.read())
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    figures["periodic_every"] = {entry["task"]: float(entry["schedule"])
                                 for entry in celeryconfig.beat_schedule.values()}
    return figures


def money_text(amount_minor: int, currency: str) -> str:
    """Minor units as exact decimal text in ``currency`` (``1999, "usd"`` → ``"19.99"``; JPY has none)."""
    from tasks.mapping.payouts import major

    return f"{major(int(amount_minor), currency):f}"


def _received_at(event_id: str) -> float | None:
    found = store.client().hget(store.key("event", event_id), "received_at")
    return float(found) if found else None


def workers_alive(timeout: float = 1.0) -> list[str]:
    """Names of the Celery workers that answered a broadcast ping, remembered for a few seconds so a
    console polled by several browsers pings the workers once."""
    import time

    from tasks import celery_app

    if time.monotonic() - _worker_ping["at"] < WORKER_PING_CACHE_SECONDS:
        return list(_worker_ping["names"])
    try:
        replies = celery_app.control.ping(timeout=timeout) or []
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    names = sorted(name for reply in replies for name in reply)
    _worker_ping.update(at=time.monotonic(), names=names)
    return names


def unfinished_events(flows: tuple[str, ...], limit: int = 200, scan: int = 2000) -> list[dict[str, Any]]:
    """Events of ``flows`` not finished yet (received, processing or retrying), latest progress first;
    at most ``scan`` of the in-flight index are looked at."""
    try:
        client = store.client()
        ids = [str(event_id) for event_id in client.zrevrange(store.INFLIGHT_KEY, 0, scan - 1)]
        pipe = client.pipeline(transaction=False)
        for event_id in ids:
            pipe.hmget(store.key("event", event_id), list(EVENT_SUMMARY_FIELDS))
        rows = pipe.execute() if ids else []
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    found = [{"id": event_id, **{name: _decoded(value) for name, value in zip(EVENT_SUMMARY_FIELDS, row)
                                 if value is not None}} for event_id, row in zip(ids, rows)]
    return [event for event in found if event.get("flow") in flows][:limit]


def _decoded(value: str) -> Any:
    """A field of an event's hash as ``tasks.store`` wrote it: JSON for dicts and lists, else text."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def dead_letters_of(flows: tuple[str, ...], limit: int = 200) -> list[dict[str, Any]]:
    """Dead-letter records of ``flows`` (newest failure first), without their stage inputs."""
    from tasks import dlq

    try:
        records = [record for record in dlq.list_records() if record.get("flow") in flows]
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    records.sort(key=lambda record: record["last_failed_at"], reverse=True)
    return [{k: v for k, v in record.items() if k != "stage_input"} for record in records[:limit]]


def payout_reports(limit: int = 50) -> list[dict[str, Any]]:
    """The latest payout reconciliation reports, newest arrival first (``GET /api/payouts``)."""
    from tasks.flows.payout_reconciliation import recent_reports

    try:
        return recent_reports(limit)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


# -- dead letters, for the console and /api/dlq: the same functions `celery -A tasks dlq` runs -----
def dead_letters() -> list[dict[str, Any]]:
    """Every dead-letter record, masked, oldest first, each with the ``group`` of its cause."""
    from tasks import dlq

    try:
        return [dlq.shown(record) | {"group": dlq.group_key(record)} for record in dlq.list_records()]
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None


def dead_letter_groups(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from tasks import dlq

    return dlq.groups(records)


def dead_letter(event_id: str) -> dict[str, Any] | None:
    from tasks import dlq

    try:
        record = dlq.get(event_id)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    return dlq.shown(record) | {"group": dlq.group_key(record)} if record else None


def retry_dead_letters(event_ids: list[str], who: str) -> dict[str, list[str]]:
    """Re-queue each record's chain from its failed stage (``dlq retry``); {retried, failed, missing}."""
    from tasks import dlq
    from tasks.dlq_cli import retry_record

    outcome: dict[str, list[str]] = {"retried": [], "failed": [], "missing": []}
    for event_id in event_ids:
        try:
            record = dlq.get(event_id)
        except _BROKER_ERRORS as exc:
            raise QueueUnavailable(str(exc)) from None
        if record is None:
            outcome["missing"].append(event_id)
            continue
        try:
            retry_record(record)
        except Exception:  # noqa: BLE001 - the record stays; the operator sees it failed and may retry
            log.warning("dead letter not re-queued")
            outcome["failed"].append(event_id)
            continue
        outcome["retried"].append(event_id)
        dlq.audit(who=who, action="dlq.retry", target=event_id)
    return outcome


def discard_dead_letters(event_ids: list[str], who: str, comment: str) -> dict[str, list[str]]:
    """Drop each record on purpose (``dlq discard``), with who and why; {discarded, missing}."""
    from tasks import dlq

    outcome: dict[str, list[str]] = {"discarded": [], "missing": []}
    try:
        for event_id in event_ids:
            if dlq.discard(event_id, who=who, comment=comment) is None:
                outcome["missing"].append(event_id)
                continue
            outcome["discarded"].append(event_id)
            dlq.audit(who=who, action="dlq.discard", target=event_id, comment=comment)
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    return outcome


# -- failed console logins: counted in Redis so every web process sees them --------------------------
LOGIN_FAILURE_WINDOW = 15 * 60


def failed_logins(*subjects: str) -> int:
    """The largest count of failed logins in the window among ``subjects`` (``user:x``, ``ip:y``)."""
    try:
        counts = store.client().mget([store.key("login_failures", subject) for subject in subjects])
    except _BROKER_ERRORS:
        log.warning("failed-login counters unreadable; logins are not rate-limited while Redis is away")
        return 0
    return max((int(count) for count in counts if count), default=0)


def note_failed_login(*subjects: str) -> None:
    try:
        pipe = store.client().pipeline()
        for subject in subjects:
            pipe.incr(store.key("login_failures", subject))
            pipe.expire(store.key("login_failures", subject), LOGIN_FAILURE_WINDOW)
        pipe.execute()
    except _BROKER_ERRORS:
        log.warning("failed login not counted: Redis unavailable")


# -- field mapping versions and preview (app/mappings_api): tasks.mapping.versions and .preview ----------
class MappingRefused(Exception):  # noqa: N818 - an answer to give, named as the console says it
    """A mapping request refused, for the web to answer: ``kind`` is ``invalid`` (``problems`` lists every
    ``file:line: field: message``), ``stale`` (``current`` is the version published meanwhile),
    ``unchanged``, ``unknown`` (no such flow, document, version or event) or ``refused`` (anything else)."""

    def __init__(self, kind: str, message: str, problems: list[dict[str, Any]] | None = None,
                 current: int | None = None):
        super().__init__(message)
        self.kind, self.message, self.problems, self.current = kind, message, problems or [], current


_REFUSAL_KINDS = {"mapping.unknown": "unknown", "preview.unknown_event": "unknown", "mapping.unchanged": "unchanged",
                  "preview.expired": "gone", "preview.skipped": "gone"}


@contextmanager
def _mapping_refusals() -> Iterator[None]:
    """The mapping modules' refusals as ``MappingRefused``; Redis away as ``QueueUnavailable``."""
    from tasks.errors import PermanentError
    from tasks.mapping.engine import MappingFileError
    from tasks.mapping.versions import StaleVersion

    try:
        yield
    except _BROKER_ERRORS as exc:
        raise QueueUnavailable(str(exc)) from None
    except MappingFileError as exc:
        raise MappingRefused("invalid", "the mapping is refused: " + exc.message,
                             [problem.__dict__ for problem in exc.problems]) from None
    except StaleVersion as exc:
        raise MappingRefused("stale", exc.message, current=exc.current) from None
    except PermanentError as exc:
        raise MappingRefused(_REFUSAL_KINDS.get(exc.reason, "refused"), exc.message) from None


def mapping_catalogue() -> list[dict[str, Any]]:
    """Every document mapping, its current version and each version's who, when and comment."""
    from tasks.mapping import versions
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        return versions.catalogue(pair_mappings_dir())


def mapping_version(flow: str, document: str, version: int | None) -> dict[str, Any]:
    """One version of one document mapping (the current one by default) with its text and diff."""
    from tasks.mapping import versions
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    mappings_dir = pair_mappings_dir()
    with _mapping_refusals():
        found = versions.current(flow, document, mappings_dir) if version is None \
            else versions.version_of(flow, document, version, mappings_dir)
    if found is None:
        raise MappingRefused("unknown", f"{flow}/{document} has no version {version}")
    return {"flow": flow, "document": document, **found.summary(), "text": found.text, "diff": found.diff}


def preview_mapping(flow: str | None, *, event_id: str | None, sample: Any,
                    drafts: dict[str, str] | None) -> dict[str, Any]:
    """The documents an event (or sample) would post with the published mappings or ``drafts``; writes
    nothing to Epicor, Stripe or the event."""
    from tasks.mapping.preview import preview
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        return preview(flow, event_id=event_id, sample=sample, drafts=drafts,
                       mappings_dir=pair_mappings_dir()).as_json()


def publish_mapping(flow: str, document: str, text: str, *, who: str, comment: str,
                    base_version: int | None) -> dict[str, Any]:
    """Publish a new version of one document mapping (every worker builds with it from its next event)."""
    from tasks.mapping import versions
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        made = versions.publish(flow, document, text, who=who, comment=comment, base_version=base_version,
                                mappings_dir=pair_mappings_dir())
    return {"flow": flow, "document": document, **made.summary(), "diff": made.diff}


def restore_mapping(flow: str, document: str, version: int, *, who: str, comment: str,
                    base_version: int | None) -> dict[str, Any]:
    """Publish an earlier version of one document mapping again, as a new version."""
    from tasks.mapping import versions
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        made = versions.restore(flow, document, version, who=who, comment=comment, base_version=base_version,
                                mappings_dir=pair_mappings_dir())
    return {"flow": flow, "document": document, **made.summary(), "diff": made.diff}


# -- the mapping designer page (app/designer_api): tasks.mapping.designer -----------------------------
def designer_model(flow: str, document: str) -> dict[str, Any]:
    """One document mapping as the designer edits it, with the transform registry and builders."""
    from tasks.mapping import designer
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        from tasks.mapping.versions import check_document

        check_document(flow, document)
        model = designer.document_model(flow, document, pair_mappings_dir())
    return model | {"transforms": designer.transform_catalogue(), "builder_list": designer.builder_catalogue(),
                    "event_flow": designer.flow_of_directory(flow)}


def designer_sources(flow: str, builders: list[str], event_id: str | None) -> dict[str, Any]:
    """The source fields of ``flow`` with an event's values (its stored fetch) or the shipped sample's."""
    from tasks.mapping import designer
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    designer_event_flow(flow)  # an unknown flow is a 404, not a missing sample
    with _mapping_refusals():
        fetched = designer.stored_fetch(event_id) if event_id else None
        if event_id and designer.event_flow(event_id) is None:
            raise MappingRefused("unknown", f"event {event_id} was never received")
        fields = designer.source_fields(flow, builders, fetched, pair_mappings_dir())
    return {"flow": flow, "event_id": event_id, "from_event": fetched is not None, "fields": fields}


def designer_edit(text: str, section: str, field: str, spec: dict[str, Any] | None) -> str:
    """The mapping text with one field's source and transforms changed, the rest of it kept."""
    from tasks.mapping import designer

    with _mapping_refusals():
        return designer.set_field(text, section, field, spec)


def designer_diff(flow: str, document: str, text: str) -> dict[str, Any]:
    from tasks.mapping import designer
    from tasks.mapping.versions import pair_mappings_dir  # the current pair's (tasks.pairs)

    with _mapping_refusals():
        return designer.draft_diff(flow, document, text, pair_mappings_dir())


def event_posted(event_id: str) -> dict[str, Any]:
    """What an event's post stage was given (the documents Epicor received, keys as placeholders)."""
    from tasks.mapping import designer

    with _mapping_refusals():
        return designer.posted(event_id)


def designer_event_flow(directory: str) -> str:
    """The pipeline flow whose events a mapping directory is built for (dispute_reversals: disputes)."""
    from tasks.mapping.preview import TRANSFORM_OF
    from tasks.mapping.shapes import FLOW_DOCUMENTS

    if directory not in FLOW_DOCUMENTS:
        raise MappingRefused("unknown", f"no field mappings for flow {directory} (known: {', '.join(FLOW_DOCUMENTS)})")
    return TRANSFORM_OF.get(directory, directory)
