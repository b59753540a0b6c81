"""Build the Celery chain of one event, from any stage (replay starts where it failed).

The chain is sent as its first stage's message carrying the remaining stages, exactly what the worker
reads when it hands a result from stage to stage (``chain`` in the message). Sending it this way
rather than through ``celery.chain`` skips the canvas's per-call preparation (cloning and freezing
every step), which cost the receiver more CPU than publishing the message itself (bench/README.md).
"""

from __future__ import annotations

from typing import Any

from celery.canvas import Signature

from tasks.flows import STAGES
from tasks.stages.fetch import fetch
from tasks.stages.post import post
from tasks.stages.status_update import status_update
from tasks.stages.transform import transform
from tasks.stages.validate import validate

STAGE_TASKS = {"fetch": fetch, "transform": transform, "validate": validate, "post": post,
               "status_update": status_update}


def build_chain(envelope: dict[str, Any], start: str = "fetch") -> Signature:
    stages = STAGES[STAGES.index(start):]
    first, *rest = (STAGE_TASKS[name] for name in stages)
    # The worker pops the next stage from the end of the list, so the list runs last stage first.
    return first.s(envelope).set(chain=[dict(task.s()) for task in reversed(rest)])


def envelope_for(event: dict[str, Any]) -> dict[str, Any]:
    """The only data that travels through the broker: ids and the flow name."""
    return {key: event.get(key) for key in ("source", "type", "flow", "object_id")} | {"event_id": event["id"]}
