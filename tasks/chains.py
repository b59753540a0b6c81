"""Build the Celery chain of one event, from any stage (replay starts where it failed).

The chain is sent as its first stage's message carrying the remaining stages, exactly what the worker
reads when it hands a result from stage to stage (``chain`` in the message). Sending it this way
rather than through ``celery.chain`` skips the canvas's per-call preparation (cloning and freezing
every step), which cost the receiver more CPU than publishing the message itself (bench/README.md).

Stages are named by their task names (``pipeline.fetch`` …, the wire contract of queued messages), not
imported: the receiver, the dead-letter CLI and the worker's own followers and sweeper build chains
without loading the stage tasks, and the stage runner never imports back the code that queues it.
"""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature

from tasks import celery_app
from tasks.routing import STAGES

STAGE_TASKS = {stage: f"pipeline.{stage}" for stage in STAGES}  # the names tasks.stages registers

# Broker priority of each stage's message (Redis: 0 is served first; celeryconfig's priority_steps).
# Events already under way go before new ones: in a burst the worker finishes the events it started
# (and keeps Epicor busy with their postings) instead of fetching every new event first.
STAGE_PRIORITY = {"fetch": 9, "transform": 6, "validate": 3, "post": 0, "status_update": 0}


def stage_signature(name: str, *args: Any) -> Signature:
    return celery_app.signature(STAGE_TASKS[name], args=args, priority=STAGE_PRIORITY[name])


def build_chain(envelope: dict[str, Any], start: str = "fetch") -> Signature:
    first, *rest = STAGES[STAGES.index(start):]
    # The worker pops the next stage from the end of the list, so the list runs last stage first.
    return stage_signature(first, envelope).set(chain=[dict(stage_signature(name)) for name in reversed(rest)])


def envelope_for(event: dict[str, Any]) -> dict[str, Any]:
    """The only data that travels through the broker: ids and the flow name."""
    envelope = {key: event.get(key) for key in ("source", "type", "flow", "object_id")} | {"event_id": event["id"]}
    if event.get("pair") and event["pair"] != "default":  # the integration pair (tasks.pairs); none: default
        envelope["pair"] = event["pair"]
    return envelope
