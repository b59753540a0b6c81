"""Build the Celery chain of one event, from any stage (replay starts where it failed)."""

from __future__ import annotations

from typing import Any

from celery import chain
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
    return chain(first.s(envelope), *(task.s() for task in rest))


def envelope_for(event: dict[str, Any]) -> dict[str, Any]:
    """The only data that travels through the broker: ids and the flow name."""
    return {key: event.get(key) for key in ("source", "type", "flow", "object_id")} | {"event_id": event["id"]}
