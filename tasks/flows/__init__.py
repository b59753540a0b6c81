"""Flows: the functions each flow runs at each of the five stages, found by the flow's name.

Which event type runs which flow is ``tasks.routing`` (``EVENT_FLOWS``). Each flow supplies one
function per stage; the Celery tasks in ``tasks.stages`` are the same for every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasks.context import Context

# Routing lives in ``tasks.routing`` (the receiver reads it without loading any flow); re-exported here.
from tasks.routing import EPICOR_EVENT_FLOWS, EVENT_FLOWS, STAGES, flow_for  # noqa: E402,F401


class AlreadyPosted(Exception):  # noqa: N818 - an outcome, not an error
    """Another event of the same payment already posted every document: done, with those keys."""

    def __init__(self, keys: dict[str, Any]):
        super().__init__("already posted by another event of the same payment")
        self.keys = keys


class SkipEvent(Exception):
    """Nothing to post for this event (not captured yet, belongs to another flow …)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, Celery retries a flow's retryable failures.

    The flow's values are defaults; the environment overrides them, per flow first, then for every
    flow: ``RETRY_MAX_<FLOW>`` / ``RETRY_MAX``, ``RETRY_BACKOFF_BASE_<FLOW>`` / ``RETRY_BACKOFF_BASE``
    and ``RETRY_BACKOFF_MAX_<FLOW>`` / ``RETRY_BACKOFF_MAX`` (``<FLOW>`` is the flow name upper-cased,
    e.g. ``RETRY_MAX_ORDER_TO_CASH=20``). Every wait is still capped below the broker's visibility
    timeout by ``tasks.base.backoff``.
    """

    max_retries: int = 8
    backoff_base: float = 5.0
    backoff_max: float = 600.0

    def configured(self, flow_name: str) -> RetryPolicy:
        """This policy with the environment's overrides for ``flow_name`` applied and checked."""
        from tasks.settings import ConfigError, env_float, env_int

        def setting(name: str, default: float, read: Callable[[str, Any], Any]) -> Any:
            return read(f"{name}_{flow_name.upper()}", read(name, default))

        policy = RetryPolicy(max_retries=setting("RETRY_MAX", self.max_retries, env_int),
                             backoff_base=setting("RETRY_BACKOFF_BASE", self.backoff_base, env_float),
                             backoff_max=setting("RETRY_BACKOFF_MAX", self.backoff_max, env_float))
        if policy.max_retries < 0 or policy.backoff_base <= 0 or policy.backoff_max < policy.backoff_base:
            raise ConfigError(f"retry policy of {flow_name} needs RETRY_MAX >= 0 and "
                              "0 < RETRY_BACKOFF_BASE <= RETRY_BACKOFF_MAX")
        return policy


@dataclass(frozen=True)
class Flow:
    name: str
    fetch: Callable[[Context, dict[str, Any]], dict[str, Any]]
    transform: Callable[[Context, dict[str, Any]], dict[str, Any]]
    validate: Callable[[Context, dict[str, Any]], dict[str, Any]]
    post: Callable[[Context, dict[str, Any]], dict[str, Any]]
    status_update: Callable[[Context, dict[str, Any]], dict[str, Any]]
    retry: RetryPolicy = RetryPolicy()
    # For flows whose events of one payment are coalesced (``tasks.followers``): the Epicor keys when
    # the object an event names belongs to a payment that is completely posted, else None.
    settled: Callable[[str], dict[str, Any] | None] | None = None

    def stage(self, name: str) -> Callable[[Context, dict[str, Any]], dict[str, Any]]:
        return getattr(self, name)


def _registry() -> dict[str, Flow]:
    from tasks.flows import (
        customer_standing,
        customer_sync,
        disputes,
        epicor_customer,
        epicor_sales_order,
        order_to_cash,
        payment_failed,
        payout_reconciliation,
        refunds,
        stripe_invoice,
    )

    modules = (order_to_cash, epicor_customer, epicor_sales_order, refunds, disputes, payment_failed,
               stripe_invoice, customer_standing, customer_sync, payout_reconciliation)
    return {module.FLOW.name: module.FLOW for module in modules}  # each module is named after its flow


_flows: dict[str, Flow] = {}


def flow_named(name: str) -> Flow:
    if not _flows:
        _flows.update(_registry())
    return _flows[name]
