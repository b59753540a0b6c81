"""The dispute transform: the dispute's current state decides the chargeback, its reversal and the order hold."""

import json
from decimal import Decimal

import pytest

from tasks.mapping.disputes import build_dispute, dispute_state
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR

CHARGE = "ch_3QxDisputedSale00000001"
DISPUTE = "dp_1QxDispute0000000000001"
OPENED = 1772625600  # 2026-03-04T12:00:00Z
REINSTATED = OPENED + 20 * 86400  # 24 March
WITHDRAWAL = {"id": "txn_withdrawal", "amount": -3700, "created": OPENED}
REINSTATEMENT = {"id": "txn_reinstatement", "amount": 3700, "created": REINSTATED}


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def dispute(status: str = "needs_response", transactions: list | None = None, amount: int = 3700,
            currency: str = "usd") -> dict:
    """A dispute as the fetch stage hands it on."""
    return {"id": DISPUTE, "amount": amount, "currency": currency, "reason": "fraudulent", "status": status,
            "created": OPENED, "charge": CHARGE, "metadata": {},
            "balance_transactions": [WITHDRAWAL] if transactions is None else transactions}


def total(documents: dict) -> Decimal:
    return sum((Decimal(line["SellingShipQty"]) * Decimal(line["DocUnitPrice"])
                for line in documents["invoice"]["lines"]), Decimal(0))


def test_withdrawn_funds_give_a_chargeback_credit_memo_and_hold_the_order(mappings):
    outcome = build_dispute(dispute(), mappings)
    assert json.loads(json.dumps(outcome)) == outcome
    assert (outcome["withdrawn"], outcome["reinstated"], outcome["outcome"]) == (True, False, "open")
    chargeback = outcome["chargeback"]
    header = chargeback["invoice"]["header"]
    assert header["CreditMemo"] is True and header["CMReason"] == "DISPUTE" and header["ExternalID"] == DISPUTE
    assert header["InvoiceDate"] == "2026-03-04T00:00:00"
    assert total(chargeback) == Decimal("-37.00")
    receipt = chargeback["receipt"]["header"]
    assert (receipt["DocTranAmt"], receipt["ExternalID"], receipt["CheckRef"]) == ("-37.00", DISPUTE, CHARGE)
    assert outcome["reversal"] is None and outcome["credit_memo_outcome"] is None
    assert outcome["order"]["hold"] is True
    assert outcome["order"]["hold_note"] == f"Stripe dispute {DISPUTE} opened (fraudulent): order held"


def test_an_inquiry_moves_no_money_but_holds_the_order(mappings):
    outcome = build_dispute(dispute(status="warning_needs_response", transactions=[]), mappings)
    assert outcome["chargeback"] is None and outcome["reversal"] is None
    assert outcome["order"]["hold"] is True


def test_a_won_dispute_reverses_the_chargeback_and_releases_the_order(mappings):
    outcome = build_dispute(dispute(status="won", transactions=[WITHDRAWAL, REINSTATEMENT]), mappings)
    assert outcome["outcome"] == "won" and outcome["chargeback"] is not None
    reversal = outcome["reversal"]
    header = reversal["invoice"]["header"]
    assert header["CreditMemo"] is False and header["InvoiceType"] == "Mis" and "CMReason" not in header
    assert header["ExternalID"] == f"{DISPUTE}-R" and header["InvoiceDate"] == "2026-03-24T00:00:00"
    assert total(reversal) == Decimal("37.00")
    assert total(outcome["chargeback"]) + total(reversal) == 0
    assert reversal["receipt"]["header"]["DocTranAmt"] == "37.00"
    assert reversal["receipt"]["header"]["ExternalID"] == f"{DISPUTE}-R"
    assert outcome["order"]["hold"] is False
    assert outcome["order"]["release_note"] == f"Stripe dispute {DISPUTE} won: hold released"


def test_funds_reinstated_before_the_dispute_closes_count_as_won(mappings):
    outcome = build_dispute(dispute(status="under_review", transactions=[WITHDRAWAL, REINSTATEMENT]), mappings)
    assert outcome["outcome"] == "won" and outcome["reversal"] is not None and not outcome["order"]["hold"]


def test_a_lost_dispute_is_final_with_the_lost_reason_and_the_order_kept_on_hold(mappings):
    outcome = build_dispute(dispute(status="lost"), mappings)
    assert outcome["chargeback"]["invoice"]["header"]["CMReason"] == "DISPLOST"
    assert outcome["credit_memo_outcome"] == {"CMReason": "DISPLOST",
                                              "InvoiceComment": f"Stripe dispute {DISPUTE} lost"}
    assert outcome["reversal"] is None
    assert outcome["order"]["hold"] is True
    assert outcome["order"]["lost_note"] == f"Stripe dispute {DISPUTE} lost: the chargeback is final"


def test_a_closed_inquiry_releases_the_order(mappings):
    outcome = build_dispute(dispute(status="warning_closed", transactions=[]), mappings)
    assert outcome["outcome"] == "closed" and outcome["chargeback"] is None
    assert outcome["order"]["hold"] is False and outcome["order"]["release_note"]


def test_without_a_transaction_list_the_status_tells_whether_money_moved(mappings):
    withdrawn = {**dispute(), "balance_transactions": None}
    assert dispute_state(withdrawn) == {"withdrawn": True, "reinstated": False, "outcome": "open"}
    won = {**dispute(status="won"), "balance_transactions": None}
    assert dispute_state(won) == {"withdrawn": True, "reinstated": True, "outcome": "won"}


@pytest.mark.parametrize(("currency", "minor", "expected"), [("jpy", 5000, "-5000"), ("kwd", 12340, "-12.340")])
def test_amounts_follow_the_currency_exponent(mappings, currency, minor, expected):
    outcome = build_dispute(dispute(amount=minor, currency=currency,
                                    transactions=[{**WITHDRAWAL, "amount": -minor}]), mappings)
    assert outcome["chargeback"]["receipt"]["header"]["DocTranAmt"] == expected
