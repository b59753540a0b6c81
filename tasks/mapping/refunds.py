"""Refund transform: one succeeded Stripe refund → an AR credit memo and the refund receipt applied to it.

Policy, as an accountant checks it:

* **One refund, one credit memo.** ``ExternalID`` is the refund id (``re_…``), so partial refunds of a
  payment are separate credit memos that add up, and a full refund leaves the sale's invoice and its
  credits netting to zero. The memo has one line: quantity ``-1`` at the refunded amount on the default
  part (``parts.yaml``), with text naming the refund, the payment and Stripe's reason; a partial refund
  cannot be traced to particular items, so no line pretends to.
* **Reason.** ``CMReason`` comes from ``Refund.reason`` through ``reasons.yaml`` (``default`` when Stripe
  gives none); the validate stage checks the code exists in Epicor's ``Reasons`` (ReasonType ``A``).
* **Against the sale.** Customer, currency, invoice type, order and ``InvoiceRef`` are those of the
  original invoice (``ExternalID`` = the charge id), which only the validate stage can read; they are
  not guessed here.
* **Cash.** A ``PayInv`` receipt of the negative amount (money paid back), ``ExternalID`` = the refund
  id, ``CheckRef`` = the charge id, applied to the credit memo so both show as settled.
* **Dates.** The refund's creation time as a calendar day in the company's zone; the documents land in
  that day's invoice and cash groups.

The documents themselves are built by the mapping engine from ``mappings/documents/refunds/*.yaml``
(``tasks.flows.refunds``); what stays here is the Python those files and the flow share: which refunds
are posted (``sort_refunds``) and how a reason reads (``reason_text``). Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping

POSTABLE = "succeeded"
WAITING = ("pending", "requires_action")
NOT_PAID_OUT = ("failed", "canceled")


def reason_text(reason: str | None) -> str:
    """``requested_by_customer`` → ``requested by customer``; none → ``no reason given``."""
    return reason.replace("_", " ") if reason else "no reason given"


def sort_refunds(refunds: list[Mapping]) -> dict[str, list[Mapping]]:
    """Refunds by what happens to them: ``post`` (succeeded), ``wait`` (pending), ``not_paid`` (failed …)."""
    sorted_refunds: dict[str, list[Mapping]] = {"post": [], "wait": [], "not_paid": []}
    for refund in refunds:
        status = refund.get("status")
        bucket = "post" if status == POSTABLE else "wait" if status in WAITING else "not_paid"
        sorted_refunds[bucket].append(refund)
    return sorted_refunds
