"""A currency with a clearing bank of its own (issue 15, point 6), on a stack of its own.

The site's payouts.yaml gives EUR its own pair, ``STREUR`` → ``OPEREUR``, with its own adjustment
group prefix (``SE``) and cash group prefix (``CE``); USD keeps ``MAIN`` → ``OPER`` and defaults.yaml's
``SC``. A EUR sale, its partial refund and a paid EUR subscription invoice put their receipts into the
day's ``CE`` cash group on ``STREUR`` (the group's bank is its receipts' bank), a USD sale into ``SC``
on ``MAIN`` as before; the EUR payout's fees and transfer come out of ``STREUR``, which then nets to
zero, and nothing of EUR touches ``MAIN``.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Harness, own_stack
from tests.integration.test_payouts_posting import deliver_payout_twice, expected_fees, paid_sale, pay_out, register
from tests.integration.test_refunds import deliver_all, sandbox
from tests.integration.test_subscriptions import PLAN, admin, customer

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).parents[2] / "mappings"
EUR_PAIR = "  eur: {clearing: STREUR, operating: OPEREUR, group_prefix: SE, cash_group_prefix: CE}\n"


def site_mappings(directory: Path) -> Path:
    """The shipped mappings with a EUR pair added under ``banks:`` of payouts.yaml."""
    shutil.copytree(SHIPPED, directory)
    payouts = directory / "payouts.yaml"
    text = payouts.read_text()
    anchor = "  default: {clearing: MAIN, operating: OPER}\n"
    assert anchor in text
    payouts.write_text(text.replace(anchor, anchor + EUR_PAIR))
    return directory


@pytest.fixture(scope="module")
def eur_stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("payout-eur")
    env = {"MAPPINGS_DIR": str(site_mappings(base / "mappings"))}
    with own_stack(base, extra_env=env) as stack:
        harness = Harness(stack)
        for bank in ("STREUR", "OPEREUR"):
            added = harness.http.post(f"{stack.sandbox_url}/_sandbox/epicor/banks", timeout=10, json={
                "BankAcctID": bank, "CurrencyCode": "EUR", "Description": f"{bank} (Stripe EUR)"})
            assert added.status_code == 201, added.text
        yield stack, harness


def receipt(dump: dict[str, Any], external_id: str) -> dict[str, Any]:
    found = [row for row in dump["CashRecs"] if row["ExternalID"] == external_id]
    assert len(found) == 1, found
    return found[0]


def cash_group(dump: dict[str, Any], group_id: str) -> dict[str, Any]:
    return next(row for row in dump["CashGrps"] if row["GroupID"] == group_id)


def whole_register(harness: Harness, bank: str) -> dict[str, Any]:
    answer = harness.http.get(f"{harness.stack.sandbox_url}/_sandbox/epicor/bank/{bank}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_eur_receipts_go_to_their_own_cash_group_and_bank_and_the_eur_payout_nets_it_to_zero(eur_stack):
    _, harness = eur_stack
    sale = paid_sale(harness, "eur-sale", 18000, "eur")
    refund = sandbox(harness, "/refunds", charge=sale["charge"]["id"], amount=3000, reason="requested_by_customer")
    assert {r["state"] for r in deliver_all(harness, refund["events"])} == {"done"}
    subscription = admin(harness, "subscriptions", {"currency": "eur", "customer": customer("eur-sub"),
                                                    "items": [PLAN]})
    assert {r["state"] for r in deliver_all(harness, subscription["events"])} <= {"done", "ignored"}
    invoice_charge = next(e for e in subscription["events"] if e["type"] == "charge.succeeded")["data"]["object"]
    usd = paid_sale(harness, "usd-sale", 5000, "usd")

    dump = harness.epicor()
    eur_receipts = [receipt(dump, ref) for ref in (sale["charge"]["id"], refund["refund"]["id"], invoice_charge["id"])]
    assert {(row["BankAcctID"], row["GroupID"][:2], row["CurrencyCode"]) for row in eur_receipts} == {
        ("STREUR", "CE", "EUR")}
    for row in eur_receipts:
        assert cash_group(dump, row["GroupID"])["BankAcctID"] == "STREUR"
    usd_receipt = receipt(dump, usd["charge"]["id"])
    assert (usd_receipt["BankAcctID"], usd_receipt["GroupID"][:2]) == ("MAIN", "SC")  # USD as before
    assert cash_group(dump, usd_receipt["GroupID"])["BankAcctID"] == "MAIN"

    payout = pay_out(harness, "eur", [sale["charge"]["id"], refund["refund"]["id"], invoice_charge["id"]])
    po = payout["payout"]["id"]
    deliver_payout_twice(harness, payout)
    clearing = register(harness, "STREUR", po)["rows"]
    fees = {row["BankFeeID"]: Decimal(str(row["DocTranAmt"])) for row in clearing if row.get("BankFeeID")}
    assert fees == {fee_id: -Decimal(total) / 100 for fee_id, total in expected_fees(payout).items()}
    assert {row["GroupID"][:2] for row in clearing if row.get("BankFeeID")} == {"SE"}
    transfer = register(harness, "OPEREUR", po)["rows"]
    assert [Decimal(str(row["DocTranAmt"])) for row in transfer] == [Decimal(payout["payout"]["amount"]) / 100]
    assert whole_register(harness, "STREUR")["balance"] == {"EUR": 0}
    assert register(harness, "MAIN", po)["rows"] == [] and "EUR" not in whole_register(harness, "MAIN")["balance"]
