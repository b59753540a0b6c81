"""Flows: which event types run which functions at each of the five stages.

``EVENT_FLOWS`` is the single routing table from an event type to a flow name; a type that is not in
it has no flow and is acknowledged as ``ignored``. Each flow supplies one function per stage; the
Celery tasks in ``tasks.stages`` are the same for every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasks.context import Context

STAGES = ("fetch", "transform", "validate", "post", "status_update")


class SkipEvent(Exception):
    """Nothing to post for this event (not captured yet, belongs to another flow …)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    backoff_base: float = 5.0
    backoff_max: float = 600.0


@dataclass(frozen=True)
class Flow:
    name: str
    fetch: Callable[[Context, dict[str, Any]], dict[str, Any]]
    transform: Callable[[Context, dict[str, Any]], dict[str, Any]]
    validate: Callable[[Context, dict[str, Any]], dict[str, Any]]
    post: Callable[[Context, dict[str, Any]], dict[str, Any]]
    status_update: Callable[[Context, dict[str, Any]], dict[str, Any]]
    retry: RetryPolicy = RetryPolicy()

    def stage(self, name: str) -> Callable[[Context, dict[str, Any]], dict[str, Any]]:
        return getattr(self, name)  # type: ignore[no-any-return]


def _registry() -> dict[str, Flow]:
    from tasks.flows import order_to_cash

    return {flow.name: flow for flow in (order_to_cash.FLOW,)}


EVENT_FLOWS: dict[str, str] = {
    "charge.succeeded": "order_to_cash",
    "charge.captured": "order_to_cash",
    "payment_intent.succeeded": "order_to_cash",
    "checkout.session.completed": "order_to_cash",
    "checkout.session.async_payment_succeeded": "order_to_cash",
}

_flows: dict[str, Flow] = {}


def flow_named(name: str) -> Flow:
    if not _flows:
        _flows.update(_registry())
    return _flows[name]


def flow_for(event_type: str) -> str | None:
    return EVENT_FLOWS.get(event_type)
