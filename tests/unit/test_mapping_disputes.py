"""What the dispute flow still takes from ``tasks.mapping.disputes``: where a dispute stands (money withdrawn,
reinstated, its outcome) and what its order needs (the documents themselves: ``test_dispute_documents``)."""

import pytest

from tasks.mapping.disputes import dispute_state, order_notes

CHARGE = "ch_3QxDisputedSale00000001"
DISPUTE = "dp_1QxDispute0000000000001"
OPENED = 1772625600  # 2026-03-04T12:00:00Z
WITHDRAWAL = {"id": "txn_withdrawal", "amount": -3700, "created": OPENED}
REINSTATEMENT = {"id": "txn_reinstatement", "amount": 3700, "created": OPENED + 20 * 86400}


def dispute(status: str = "needs_response", transactions: list | None = None) -> dict:
    """A dispute as the fetch stage hands it on."""
    return {"id": DISPUTE, "amount": 3700, "currency": "usd", "reason": "fraudulent", "status": status,
            "created": OPENED, "charge": CHARGE, "metadata": {},
            "balance_transactions": [WITHDRAWAL] if transactions is None else transactions}


@pytest.mark.parametrize(("status", "transactions", "expected"), [
    ("needs_response", None, (True, False, "open")),
    ("warning_needs_response", [], (False, False, "open")),
    ("won", [WITHDRAWAL, REINSTATEMENT], (True, True, "won")),
    ("under_review", [WITHDRAWAL, REINSTATEMENT], (True, True, "won")),  # reinstated before it closes: won
    ("lost", None, (True, False, "lost")),
    ("warning_closed", [], (False, False, "closed")),
])
def test_the_dispute_state_comes_from_its_money_movements_and_status(status, transactions, expected):
    state = dispute_state(dispute(status, transactions))
    assert (state["withdrawn"], state["reinstated"], state["outcome"]) == expected


def test_without_a_transaction_list_the_status_tells_whether_money_moved():
    withdrawn = {**dispute(), "balance_transactions": None}
    assert dispute_state(withdrawn) == {"withdrawn": True, "reinstated": False, "outcome": "open"}
    won = {**dispute(status="won"), "balance_transactions": None}
    assert dispute_state(won) == {"withdrawn": True, "reinstated": True, "outcome": "won"}


def test_an_open_dispute_holds_the_order():
    notes = order_notes(dispute(), "open")
    assert notes["hold"] is True and notes["release_note"] is None and notes["lost_note"] is None
    assert notes["hold_note"] == f"Stripe dispute {DISPUTE} opened (fraudulent): order held"


def test_a_lost_dispute_is_final_and_the_order_stays_held():
    notes = order_notes(dispute(status="lost"), "lost")
    assert notes["hold"] is True
    assert notes["lost_note"] == f"Stripe dispute {DISPUTE} lost: the chargeback is final"


@pytest.mark.parametrize("outcome", ["won", "closed"])
def test_a_won_dispute_or_closed_inquiry_releases_the_order(outcome):
    notes = order_notes(dispute(), outcome)
    assert notes["hold"] is False
    assert notes["release_note"] == f"Stripe dispute {DISPUTE} {outcome}: hold released"
