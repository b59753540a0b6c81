"""Events of one payment that arrive while another event of that payment (its lead) is in flight.

Stripe sends two or three events for one card payment within milliseconds of each other
(``charge.succeeded``, ``payment_intent.succeeded``, ``checkout.session.completed``). They all resolve
to the same documents, so running their chains side by side only re-reads and transforms the same
payment two or three times and then waits on the customer's lock. The receiver therefore queues the
first one as the payment's lead and records the others as queued behind it
(``store.record_event`` with the payment's group, in the same round trip that deduplicates).

When the lead finishes, ``release`` settles each follower:

- lead done, and the follower's own object is a posted payment's charge or PaymentIntent (exactly
  what the follower's ``fetch`` would decide, by the flow's ``settled`` function): the follower is
  done too, with the same Epicor keys and no Stripe or Epicor call;
- otherwise (lead skipped, dead-lettered, or the follower's object not yet known): the follower is
  queued to run its own chain from ``fetch``, which re-reads Stripe as any event does.

Nothing waits forever: a follower is in the in-flight index like any queued event, so if the worker
dies between the lead finishing and its followers being settled, the stall sweep queues them.
"""

from __future__ import annotations

import logging
from typing import Any

from tasks import chains, store
from telemetry import metrics

log = logging.getLogger(__name__)


def release(lead: dict[str, Any], *, posted: bool) -> None:
    """Settle the events waiting for ``lead``; never fails the lead (the sweep is the fallback)."""
    group = lead.get("group")
    if not group:
        return
    try:
        for follower in store.release_followers(str(group), lead["id"]):
            _settle(follower, lead["id"], posted)
    except Exception:  # noqa: BLE001 - Redis away: the stall sweep queues whatever is left waiting
        log.warning("events waiting for %s left to the stall sweep", lead["id"], exc_info=True)


def _settle(follower: dict[str, str], lead_id: str, posted: bool) -> None:
    from tasks.flows import flow_named  # the flow's own rule; only ever called inside the worker

    follower_id = follower["id"]
    if follower.get("state") != "received" or follower.get("waiting_for") != lead_id or not follower.get("flow"):
        return  # already taken up by the stall sweep, or by an operator
    settled = flow_named(str(follower["flow"])).settled
    keys = settled(str(follower.get("object_id") or "")) if posted and settled else None
    if keys is not None:
        store.update_event(follower_id, state="done", stage="fetch", epicor_keys=keys, last_error=None,
                           reason=f"already posted by {lead_id}, an event of the same payment",
                           finished_at=store.now())
        metrics.event_finished(str(follower["flow"]), "done", None,  # no receipt time here: counted only
                               pair=follower.get("pair") or "default")
        return
    chains.build_chain(chains.envelope_for(follower)).apply_async()
    store.update_event(follower_id, queued_at=store.now())
