"""A payout posting interrupted where it hurts most (issue 15, point 5), on a stack of its own.

* **A worker killed between the fee adjustments and the transfer.** The sandbox's Epicor holds every
  ``CreateBankTran`` (the first call of the transfer's method sequence) longer than the worker waits
  for an answer (``path_latency_ms``), so the worker cannot get past it: once the fee adjustments are
  in the clearing bank's register, the worker is killed with SIGKILL, the fault is lifted and a new
  worker starts. The killed task comes back from the broker and completes the payout.
* **Creates that committed and then timed out.** The next ``POST BankTrans`` and the next
  ``CreateBankTranRecords`` commit and then hold their answer past the worker's timeout
  (``commit_then_timeout_paths``): the retry finds both by ``TranRef`` and creates neither again.

Either way: exactly one adjustment per fee category, one transfer, amounts to the cent, and the whole
clearing bank nets to zero (every receipt in it belongs to a posted payout).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.conftest import Harness, own_stack
from tests.integration.test_payouts_posting import (
    assert_posted_once,
    deliver_payout_twice,
    expected_fees,
    paid_sale,
    pay_out,
    register,
)
from tests.integration.test_subscriptions import admin

pytestmark = pytest.mark.integration

CRASH_ENV = {
    "EPICOR_TIMEOUT": "4",                 # below the sandbox's holds: the worker gives up and retries
    "RETRY_BACKOFF_BASE": "0.5", "RETRY_BACKOFF_MAX": "3", "MAX_RETRY_COUNTDOWN": "5",
    "BROKER_VISIBILITY_TIMEOUT": "15", "BROKER_RESTORE_INTERVAL": "2",  # the killed worker's task returns
    "LOCK_TIMEOUT_SECONDS": "10",          # the payout's lock, held by the killed worker, lapses
    "STALL_SECONDS": "40", "STALL_SWEEP_INTERVAL": "5",
}
HELD_MS = 20_000  # far past EPICOR_TIMEOUT: no CreateBankTran answers while the fault is on


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory):
    with own_stack(tmp_path_factory.mktemp("payout-crash"), extra_env=CRASH_ENV) as stack:
        yield stack, Harness(stack)


def fee_rows(harness: Harness, po: str) -> list[dict[str, Any]]:
    return [row for row in register(harness, "MAIN", po)["rows"] if row.get("BankFeeID")]


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def payout_of_two_fee_categories(harness: Harness, label: str) -> dict[str, Any]:
    """Two posted sales and a currency conversion fee paid out together: processing and FX fees."""
    sales = [paid_sale(harness, f"{label}{n}", amount, "usd") for n, amount in enumerate((15000, 2750))]
    fx_fee = admin(harness, "fees", {"type": "stripe_fx_fee", "amount": 87, "currency": "usd"})
    payout = pay_out(harness, "usd", [sale["charge"]["id"] for sale in sales]
                     + [fx_fee["balance_transaction"]["id"]])
    assert set(expected_fees(payout)) == {"STRFEE", "FXFEE"}
    return payout


def assert_clearing_bank_nets_to_zero(harness: Harness) -> None:
    """Every receipt on this stack is in a posted payout, so the whole clearing register is zero."""
    balance = _whole_register(harness, "MAIN")
    assert Decimal(str(balance.get("USD", 0))) == 0, balance


def _whole_register(harness: Harness, bank: str) -> dict[str, Any]:
    answer = harness.http.get(f"{harness.stack.sandbox_url}/_sandbox/epicor/bank/{bank}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["balance"]


def test_a_worker_killed_between_the_fees_and_the_transfer_leaves_one_of_each(crash_stack):
    stack, harness = crash_stack
    payout = payout_of_two_fee_categories(harness, "crash")
    po = payout["payout"]["id"]
    harness.epicor_faults(path_latency_ms={"CreateBankTran": HELD_MS})
    try:
        event = next(e for e in payout["events"] if e["type"] == "payout.paid")
        assert harness.deliver(event).status_code == 200
        wait_for(lambda: len(fee_rows(harness, po)) == 2, 90, "the fee adjustments were never made")
        stack.kill_worker()                                  # SIGKILL mid-payout, in or after CreateBankTran
    finally:
        harness.epicor_faults(path_latency_ms={})
    assert register(harness, "OPER", po)["rows"] == []       # the kill did land before the transfer
    assert harness.event(event["id"])["state"] == "processing"

    stack.restart_worker()
    assert harness.deliver(event).status_code == 200         # Stripe's redelivery changes nothing
    assert harness.wait(event["id"], timeout=120)[0]["state"] == "done"
    assert_posted_once(harness, payout, exponent=2)
    assert_clearing_bank_nets_to_zero(harness)


def test_an_adjustment_and_a_transfer_that_committed_then_timed_out_are_not_made_twice(crash_stack):
    _, harness = crash_stack
    payout = payout_of_two_fee_categories(harness, "timeout")
    harness.epicor_faults(timeout_seconds=6, commit_then_timeout_paths={"BankTrans": 1, "CreateBankTranRecords": 1})
    try:
        deliver_payout_twice(harness, payout, timeout=120)
        left = harness.epicor_faults()["commit_then_timeout_paths"]
    finally:
        harness.epicor_faults(commit_then_timeout_paths={})
    assert left == {"banktrans": 0, "createbanktranrecords": 0}  # both writes committed and timed out
    assert_posted_once(harness, payout, exponent=2)
    assert_clearing_bank_nets_to_zero(harness)
