"""A site that posts payouts as GL journals (payouts.yaml ``shape: journal``), and a payout that never
reconciles, on a stack of this module's own (its own mapping directory and a short wait budget).

The journal is read back over the sandbox's OData, as Epicor serves it: one journal per payout, balanced,
accounts in internal form; a payout that does not reconcile within the wait budget is dead-lettered with
its unmatched transaction named, and nothing is posted for it.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.stack import ROOT
from tests.integration.conftest import Harness, own_stack
from tests.integration.test_order_to_cash import post_all_events
from tests.integration.test_subscriptions import admin, customer

pytestmark = pytest.mark.integration
WAIT_BUDGET = {"RETRY_MAX_PAYOUT_RECONCILIATION": "1", "RETRY_BACKOFF_BASE_PAYOUT_RECONCILIATION": "1",
               "RETRY_BACKOFF_MAX_PAYOUT_RECONCILIATION": "2"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("payouts_journal")
    mappings = base / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    payouts = mappings / "payouts.yaml"
    payouts.write_text(payouts.read_text().replace("shape: bank", "shape: journal"))
    with own_stack(base, {"MAPPINGS_DIR": str(mappings), **WAIT_BUDGET}) as stack:
        yield SimpleNamespace(harness=Harness(stack), stack=stack)


def odata(site: SimpleNamespace, service_set: str, filter_: str) -> list[dict[str, Any]]:
    env = site.stack.env()
    token = base64.b64encode(f"{env['EPICOR_USERNAME']}:{env['EPICOR_PASSWORD']}".encode()).decode()
    url = f"{env['EPICOR_BASE_URL'].rstrip('/')}/api/v2/odata/{env.get('EPICOR_COMPANY') or 'EPIC06'}/{service_set}"
    answer = site.harness.http.get(url, params={"$filter": filter_}, timeout=10,
                                   headers={"Authorization": f"Basic {token}", "x-api-key": env["EPICOR_API_KEY"]})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_a_payout_is_one_balanced_journal_posted_once(site):
    harness = site.harness
    sale = harness.create_payment(amount=15000, currency="usd", customer=customer("pj-1"))
    assert {r["state"] for r in post_all_events(harness, sale)} == {"done"}
    payout = admin(harness, "payouts", {"currency": "usd", "sources": [sale["charge"]["id"]]})
    event = next(e for e in payout["events"] if e["type"] == "payout.paid")
    for _ in range(2):
        assert harness.deliver(event).status_code == 200
    assert harness.wait(event["id"], timeout=120)[0]["state"] == "done"

    po = payout["payout"]["id"]
    journals = odata(site, "Erp.BO.GLJournalEntrySvc/GLJournalEntries", f"Description eq '{po}'")
    assert len(journals) == 1 and journals[0]["GroupID"].startswith("SJ") and journals[0]["JournalCode"] == "STRP"
    lines = odata(site, "Erp.BO.GLJournalEntrySvc/GLJrnDtlMnls", f"Description eq '{po}'")
    by_account = {line["GLAccount"]: Decimal(str(line["TotDebit"])) - Decimal(str(line["TotCredit"]))
                  for line in lines}
    fee = Decimal(sum(t["fee"] for t in payout["balance_transactions"])) / 100
    assert by_account == {"1010|00|00": Decimal(payout["payout"]["amount"]) / 100, "6150|00|00": fee,
                          "1015|00|00": -Decimal("150.00")}
    assert sum(by_account.values()) == 0


def test_a_payout_that_never_reconciles_is_dead_lettered_with_what_is_missing(site):
    harness = site.harness
    unposted = harness.create_payment(amount=2700, currency="usd", customer=customer("pj-2"))
    payout = admin(harness, "payouts", {"currency": "usd", "sources": [unposted["charge"]["id"]]})
    event = next(e for e in payout["events"] if e["type"] == "payout.paid")
    assert harness.deliver(event).status_code == 200
    record = harness.wait(event["id"], timeout=120)[0]
    assert record["state"] == "dead", record
    dead = harness.http.get(f"{site.stack.web_url}/api/events/{event['id']}", timeout=10).json()
    error = dead["last_error"]
    assert error["reason"] == "prerequisite.missing" and unposted["charge"]["id"] in error["message"]
    po = payout["payout"]["id"]
    assert odata(site, "Erp.BO.GLJournalEntrySvc/GLJournalEntries", f"Description eq '{po}'") == []
