"""What the refund flow still takes from ``tasks.mapping.refunds``: which refunds are posted, and how a reason
reads on the credit memo line (the documents themselves: ``test_refund_documents``)."""

import pytest

from tasks.mapping.refunds import reason_text, sort_refunds

CHARGE = "ch_3QxRefundSale0000000001"


def refund(refund_id: str, status: str = "succeeded") -> dict:
    """A refund as the fetch stage hands it on."""
    return {"id": refund_id, "amount": 1250, "currency": "usd", "reason": None, "status": status,
            "created": 1772625600, "charge": CHARGE, "metadata": {}}


def test_only_succeeded_refunds_are_posted():
    outcome = sort_refunds([refund("re_ok"), refund("re_wait", status="pending"),
                            refund("re_action", status="requires_action"), refund("re_fail", status="failed"),
                            refund("re_cancel", status="canceled"), refund("re_odd", status="a_new_status")])
    assert [r["id"] for r in outcome["post"]] == ["re_ok"]
    assert [r["id"] for r in outcome["wait"]] == ["re_wait", "re_action"]
    assert [r["id"] for r in outcome["not_paid"]] == ["re_fail", "re_cancel", "re_odd"]


@pytest.mark.parametrize(("reason", "text"), [
    ("requested_by_customer", "requested by customer"), ("duplicate", "duplicate"), (None, "no reason given"),
    ("", "no reason given")])
def test_a_reason_reads_as_words(reason, text):
    assert reason_text(reason) == text
