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
movement that payout reconciliation reports, not a document here. The documents are built by the mapping
engine from ``mappings/documents/disputes`` and ``dispute_reversals`` (``tasks.flows.disputes``); what
stays here is the state those files and the flow share (``dispute_state``, ``order_notes``). Pure functions only.
"""

from __future__ import annotations

from collections.abc import Mapping

from tasks.mapping.refunds import reason_text

MONEY_MOVED = ("needs_response", "under_review", "won", "lost")
CLOSED_WITHOUT_LOSS = ("warning_closed", "prevented")


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
