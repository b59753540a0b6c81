"""The one base task of the pipeline: state, retries, dead-lettering and log context live here.

Every stage task is a thin wrapper that calls ``run_stage``. Policy:

- Each stage reads its input from Redis (``store.begin_stage``) and writes the next stage's input
  there; only a small envelope of ids travels through the broker, so Flower and queued messages never
  hold personal data or secrets.
- Errors are classified once (``tasks.errors.classify``). Retryable ones are retried by Celery with
  exponential backoff and jitter, honouring a server's ``Retry-After``, bounded per flow (the flow's
  ``RetryPolicy`` with the environment's ``RETRY_*`` overrides) and capped below the broker's
  visibility timeout. Permanent ones, and retryable ones that ran out of attempts, write one
  dead-letter record (keyed by the task id, so a redelivered task cannot write it twice) and mark the
  event ``dead``; the task then fails visibly in Flower.
- ``SkipEvent`` marks the event ``ignored`` with its reason and stops the chain quietly;
  ``AlreadyPosted`` marks it ``done`` with the keys another event of its payment posted.
- An event already ``done`` is not processed again (a redelivered message after a worker crash).
- When an event finishes, the events of the same payment queued behind it are finished or queued
  (``tasks.followers``).
- Every stage attempt (its duration and outcome), retry, dead letter, final state and the money a
  ``post`` stage sent to Epicor is counted in ``telemetry.metrics``: memory writes, no round trip.
- A stage costs two Redis round trips of its own: one to mark the event processing and read it with
  the stage's input and the serials of what the console published (``store.begin_stage``,
  ``tasks.published``), one to store the next stage's input.
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from functools import cache
from typing import Any

from celery import Task
from celery.exceptions import Ignore

import celeryconfig
from history import extract, recorder
from tasks import dlq, followers, pairs, published, store
from tasks.context import context_for
from tasks.errors import PipelineError, RetryableError, classify
from tasks.flows import STAGES, AlreadyPosted, Flow, RetryPolicy, SkipEvent, flow_named
from telemetry import metrics

log = logging.getLogger(__name__)
log_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context")


class DeadLettered(Exception):
    """Raised after the dead-letter record is written, so Flower shows the task as failed."""


class ContextFilter(logging.Filter):
    """Adds the current event id, flow, stage and attempt to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context.get({}).items():
            setattr(record, name, value)
        return True


def next_stage(stage: str) -> str | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


@cache
def retry_policy(flow_name: str) -> RetryPolicy:
    """The flow's policy with the environment's overrides (``RETRY_MAX_<FLOW>`` …), read once."""
    return flow_named(flow_name).retry.configured(flow_name)


def backoff(policy: RetryPolicy, retries: int, retry_after: float | None) -> int:
    """Exponential backoff with 50–100 % jitter; a server's Retry-After is honoured up to the policy's
    longest wait; everything is capped below the broker's visibility timeout."""
    delay = min(policy.backoff_max, policy.backoff_base * 2 ** retries) * random.uniform(0.5, 1.0)
    delay = max(delay, min(retry_after or 0.0, policy.backoff_max))
    return int(min(delay, celeryconfig.MAX_RETRY_COUNTDOWN)) or 1


class PipelineTask(Task):
    """Base of the five stage tasks."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def run_stage(self, stage: str, envelope: dict[str, Any]) -> dict[str, Any]:
        event_id = envelope["event_id"]
        token = log_context.set({"event_id": event_id, "flow": envelope.get("flow"), "stage": stage,
                                 "attempt": self.request.retries + 1})
        pair = pairs.current.set(envelope.get("pair") or pairs.DEFAULT)  # its pair's journals, caches, locks
        try:
            with recorder.working_on(event_id):  # write-backs made by the stage name their event
                return self._run(stage, envelope)
        finally:
            pairs.current.reset(pair)
            log_context.reset(token)

    def _run(self, stage: str, envelope: dict[str, Any]) -> dict[str, Any]:
        event_id = envelope["event_id"]
        begun = store.begin_stage(event_id, stage, self.request.retries + 1, published.keys_for(envelope["flow"]))
        if begun is None:
            log.info("event already finished; stage skipped")
            raise Ignore()
        event = {**envelope, "id": event_id, **begun[0]}
        stage_input = envelope if stage == "fetch" else begun[1]
        flow = flow_named(envelope["flow"])
        started = time.perf_counter()
        try:
            if stage_input is None:
                raise RetryableError(f"Input of stage {stage} for {event_id} is not in Redis yet",
                                     reason="pipeline.input_missing")
            with published.stage_serials(begun[2]):  # what the console published, as of this stage's start
                output = flow.stage(stage)(context_for(event), stage_input)
        except SkipEvent as skip:
            metrics.stage_ran(flow.name, stage, "skipped", time.perf_counter() - started, pairs.current.get())
            self._finish(event, posted=False, state="ignored", reason=str(skip))
            log.info("event skipped: nothing to post")
            raise Ignore() from skip
        except AlreadyPosted as posted:
            metrics.stage_ran(flow.name, stage, "posted_before", time.perf_counter() - started, pairs.current.get())
            self._finish(event, posted=True, state="done", stage=stage, epicor_keys=posted.keys, reason=str(posted),
                         last_error=None, finished_at=store.now())
            log.info("event done: its payment was already posted")
            raise Ignore() from posted
        except Exception as exc:  # noqa: BLE001 - classified below, closed by default
            metrics.stage_ran(flow.name, stage, "error", time.perf_counter() - started, pairs.current.get())
            self._fail(stage, envelope, event, stage_input, flow, classify(exc))
        metrics.stage_ran(flow.name, stage, "ok", time.perf_counter() - started, pairs.current.get())
        if stage == "post":  # the documents are in Epicor now: count their money once, here
            metrics.amounts_posted(flow.name, metrics.documents_posted(stage_input), pairs.current.get())
        self._advance(stage, event, output)
        return envelope

    def _advance(self, stage: str, event: dict[str, Any], output: dict[str, Any]) -> None:
        following = next_stage(stage)
        noted = recorder.noted()  # e.g. the mapping versions transform built with: written in this round trip
        if following:  # Epicor keys are on the event's record as soon as they exist
            facts, history = extract.after_stage(stage, event, output)  # ids, amount; documents posted
            if noted:
                history = [*history, {"kind": "event", "id": event["id"], **noted}]
            store.put_stage_input(event["id"], following, output, history=history, **facts, **noted,
                                  **({"epicor_keys": output["keys"]} if "keys" in output else {}))
            return
        self._finish(event, posted=True, state="done", stage=stage, epicor_keys=output.get("keys", {}),
                     last_error=None, finished_at=store.now(), **noted)
        log.info("event done")

    @staticmethod
    def _finish(event: dict[str, Any], *, posted: bool, **fields: Any) -> None:
        """Record the event's final state, then settle the events of its payment waiting for it."""
        store.update_event(event["id"], **fields)
        metrics.event_finished(str(event.get("flow")), fields["state"], event.get("received_at"),
                               pair=event.get("pair") or pairs.DEFAULT)
        followers.release(event, posted=posted)

    def _fail(self, stage: str, envelope: dict[str, Any], event: dict[str, Any], stage_input: Any,
              flow: Flow, error: PipelineError) -> None:
        retries = self.request.retries
        policy = retry_policy(flow.name)
        store.update_event(envelope["event_id"], last_error=error.to_dict())
        if isinstance(error, RetryableError) and retries < policy.max_retries:
            countdown = backoff(policy, retries, error.retry_after)
            log.warning("stage failed, retrying in %s s: %s", countdown, error.reason)
            metrics.stage_retried(flow.name, stage, error.reason, pairs.current.get())
            raise self.retry(countdown=countdown, max_retries=policy.max_retries, exc=error)
        details = error.to_dict()
        if isinstance(error, RetryableError):
            details["reason"] = f"{error.reason}.retries_exhausted"
        dlq.dead_letter(event={**event, **envelope, "id": envelope["event_id"]}, stage=stage,
                        stage_input=stage_input, error=details, attempts=retries + 1,
                        failure_id=f"{self.request.id}:{stage}")
        metrics.dead_lettered(flow.name, stage, str(details["reason"]), pairs.current.get())
        self._finish(event, posted=False, state="dead", stage=stage)
        log.error("event dead-lettered: %s", details["reason"])
        raise DeadLettered(f"{details['reason']}: {error.message}")
