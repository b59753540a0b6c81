"""Dispute transform: where a Stripe dispute stands, and the Epicor documents that stage calls for.

Every dispute event is handled from the dispute's current state (re-read from Stripe), never from the
event type, so events that arrive late, twice or out of order all lead to the same books:

* **Funds withdrawn** (a negative balance transaction on the dispute): a chargeback credit memo against
  the sale's invoice (``CMReason`` = ``disputes.chargeback`` of ``reasons.yaml``, ``ExternalID`` = the
  dispute id ``dp_…``) and a negative receipt (``ExternalID`` = ``dp_…``) applied to it. An inquiry
  (``warning_*`` status) moves no money and posts nothing.
* **Funds reinstated** (a positive balance transaction, or status ``won``): the chargeback is reversed by
  a miscellaneous debit invoice of the same amount (``ExternalID`` = ``dp_…-R``) and a positive receipt
  (``dp_…-R``) applied to it, so credit and debit net to zero and the sale stands again.
* **Lost**: final. The chargeback credit memo carries ``disputes.lost`` (``DISPLOST``) as its reason:
  set when it is created, or changed on the still unposted memo.
* **The order**: held while the dispute is open or once it is lost, so nothing more ships to a disputed
  sale; the hold is released when the dispute is won, reinstated or closed as an inquiry. A lost
  dispute's order stays held rather than being closed: whether the goods were shipped, and what
  happens to the order, is the business's decision in Epicor.

Amounts are the dispute's own ``amount`` in the charge's currency; Stripe's dispute fee is a balance
movement that payout reconciliation reports, not a document here. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tasks.mapping.currency import minor_to_decimal
from tasks.mapping.dates import epicor_date
from tasks.mapping.refunds import adjustment_documents, reason_text
from tasks.mapping.tables import Mappings

REVERSAL_SUFFIX = "-R"
MONEY_MOVED = ("needs_response", "under_review", "won", "lost")
CLOSED_WITHOUT_LOSS = ("warning_closed", "prevented")


def reversal_id(dispute_id: str) -> str:
    """The external reference of the documents that reverse a chargeback."""
    return dispute_id + REVERSAL_SUFFIX


def _movements(dispute: Mapping) -> tuple[list[Mapping], list[Mapping]] | None:
    """(withdrawals, reinstatements) from the dispute's balance transactions; None when not listed."""
    transactions = dispute.get("balance_transactions")
    if transactions is None:
        return None
    listed = [txn for txn in transactions if isinstance(txn, Mapping)]
    return [txn for txn in listed if txn["amount"] < 0], [txn for txn in listed if txn["amount"] > 0]


def dispute_state(dispute: Mapping) -> dict:
    """``withdrawn``, ``reinstated`` and ``outcome`` (``open``, ``won``, ``lost`` or ``closed``)."""
    status = dispute["status"]
    movements = _movements(dispute)
    if movements is None:
        withdrawn, reinstated = status in MONEY_MOVED, status == "won"
    else:
        withdrawn, reinstated = bool(movements[0]), bool(movements[1])
    outcome = "won" if status == "won" or reinstated else "lost" if status == "lost" else \
        "closed" if status in CLOSED_WITHOUT_LOSS else "open"
    return {"withdrawn": withdrawn, "reinstated": reinstated and withdrawn, "outcome": outcome}


def _movement_date(dispute: Mapping, sign: int, mappings: Mappings) -> str:
    movements = _movements(dispute) or ([], [])
    moved = movements[0] if sign < 0 else movements[1]
    created = min(txn["created"] for txn in moved) if moved else dispute["created"]
    return epicor_date(created, mappings.timezone)


def _amount(dispute: Mapping) -> Decimal:
    return minor_to_decimal(dispute["amount"], dispute["currency"])


def chargeback_documents(dispute: Mapping, lost: bool, mappings: Mappings) -> dict:
    """The chargeback credit memo and the negative receipt of the withdrawn funds."""
    reason = reason_text(dispute.get("reason"))
    return adjustment_documents(
        external_id=dispute["id"], charge_id=dispute["charge"], amount=_amount(dispute),
        currency=dispute["currency"], date=_movement_date(dispute, -1, mappings), credit=True,
        description="Stripe chargeback", reason_code=mappings.dispute_reason_code("lost" if lost else "chargeback"),
        line_text=f"Chargeback {dispute['id']} on Stripe payment {dispute['charge']} ({reason})",
        reference=f"Chargeback {dispute['id']}", mappings=mappings)


def reversal_documents(dispute: Mapping, mappings: Mappings) -> dict:
    """The debit invoice and positive receipt that reverse a chargeback whose funds came back."""
    return adjustment_documents(
        external_id=reversal_id(dispute["id"]), charge_id=dispute["charge"], amount=_amount(dispute),
        currency=dispute["currency"], date=_movement_date(dispute, 1, mappings), credit=False,
        description="Stripe chargeback reversed",
        line_text=f"Chargeback {dispute['id']} on Stripe payment {dispute['charge']} reversed: dispute won",
        reference=f"Chargeback reversal {dispute['id']}", mappings=mappings)


def order_notes(dispute: Mapping, outcome: str) -> dict:
    """What the order needs: ``hold`` or not, and the comment lines that record why."""
    dispute_id, reason = dispute["id"], reason_text(dispute.get("reason"))
    hold_note = f"Stripe dispute {dispute_id} opened ({reason}): order held"
    notes = {"hold": outcome in ("open", "lost"), "hold_note": hold_note, "release_note": None, "lost_note": None}
    if outcome == "lost":
        notes["lost_note"] = f"Stripe dispute {dispute_id} lost: the chargeback is final"
    elif outcome in ("won", "closed"):
        notes["release_note"] = f"Stripe dispute {dispute_id} {outcome}: hold released"
    return notes


def build_dispute(dispute: Mapping, mappings: Mappings) -> dict:
    """Every document and order change the dispute's current state calls for, JSON-ready."""
    state = dispute_state(dispute)
    lost = state["outcome"] == "lost"
    lost_code = mappings.dispute_reason_code("lost")
    return {
        "dispute_id": dispute["id"], "charge_id": dispute["charge"], "status": dispute["status"], **state,
        "chargeback": chargeback_documents(dispute, lost, mappings) if state["withdrawn"] else None,
        "reversal": reversal_documents(dispute, mappings) if state["reinstated"] else None,
        "credit_memo_outcome": {"CMReason": lost_code,
                                "InvoiceComment": f"Stripe dispute {dispute['id']} lost"} if lost else None,
        "order": order_notes(dispute, state["outcome"]),
        "reason_codes": [mappings.dispute_reason_code("chargeback"), lost_code],
    }
