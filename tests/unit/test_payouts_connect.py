"""A Stripe Connect account's payout (issue 16 point 4): read with ``Stripe-Account`` for the account when its
event arrives, its stored report names the account, and the recheck and ``payouts reconcile|post`` read that
account's payout again with the header, never the platform's.

Stripe is the project's own connector over HTTP to ``responses`` (the header is asserted on the requests it
sends); Epicor's look-ups are what the test says Epicor holds; Redis is fakeredis.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import responses
from click.testing import CliRunner

from tasks import context, pairs, payout_recheck, payouts_cli
from tasks.context import context_for
from tasks.flows import payout_posting, payout_reconciliation
from tasks.flows.payout_reconciliation import FLOW, load_report, save_report
from tasks.mapping.payouts import build_report, transaction_facts
from tasks.pairs import Pair, Pairs, working_for
from tasks.settings import load_settings
from tests.unit.conftest import STRIPE_API
from tests.unit.test_mapping_payouts import DOCUMENTS, PAYOUT, TRANSACTIONS

SHOP = "acct_1EmeaShop"
PAYOUT_ID = "po_shop1"
ARRIVAL = 1_764_201_600


class Epicor:
    """What Epicor holds, by ExternalID."""

    def __init__(self, documents: dict):
        self.documents = documents

    def lookup(self, _ctx, references):
        return {ref: self.documents[ref] for ref in references if ref in self.documents}


@pytest.fixture()
def epicor(monkeypatch):
    held = Epicor({ref: doc for ref, doc in DOCUMENTS.items() if ref != "ch_2"})  # one sale not posted yet
    monkeypatch.setattr(payout_reconciliation, "epicor_documents", held.lookup)
    monkeypatch.setattr(payout_recheck, "epicor_documents", held.lookup)
    monkeypatch.setattr(payout_posting, "build_plan", lambda *_args: None)  # report only: no payouts.yaml
    return held


@pytest.fixture()
def emea_with_a_shop(monkeypatch, fake_redis, epicor):
    """Pairs default and emea, emea listing the Connect account SHOP; Stripe answers at STRIPE_API."""
    for name, value in {"STRIPE_API_KEY": "sk_test_unit", "STRIPE_API_BASE": STRIPE_API,
                        "STRIPE_MAX_NETWORK_RETRIES": "0", "STRIPE_MAX_CALLS_PER_SECOND": "1000",
                        "PAYOUT_RECHECK_DAYS": "100000"}.items():  # the fixture's payout arrived in 2025
        monkeypatch.setenv(name, value)
    settings = load_settings()
    found = Pairs({"default": Pair("default", settings),
                   "emea": Pair("emea", replace(settings, pair="emea"), connect_accounts=(SHOP,))})
    for module in (pairs, payout_recheck, payouts_cli):
        monkeypatch.setattr(module, "get_pairs", lambda: found)
    context._local.__dict__.pop("connectors", None)  # connectors of this test's settings only
    yield found
    context._local.__dict__.pop("connectors", None)


def stripe_has_the_payout() -> None:
    responses.get(f"{STRIPE_API}/v1/payouts/{PAYOUT_ID}",
                  json={**PAYOUT, "id": PAYOUT_ID, "object": "payout", "status": "paid", "automatic": True,
                        "arrival_date": ARRIVAL, "created": ARRIVAL - 86400})
    responses.get(f"{STRIPE_API}/v1/balance_transactions",
                  json={"object": "list", "url": "/v1/balance_transactions", "has_more": False,
                        "data": TRANSACTIONS})


def stripe_accounts_asked() -> list[str | None]:
    return [call.request.headers.get("Stripe-Account") for call in responses.calls]


def stored_for_the_shop(documents: dict) -> dict:
    report = build_report({**PAYOUT, "id": PAYOUT_ID, "arrival_date": ARRIVAL},
                          [transaction_facts(txn) for txn in TRANSACTIONS], documents, ARRIVAL + 60.0)
    with working_for("emea"):
        save_report({**report, "account": SHOP})
    return report


@responses.activate
def test_a_connect_accounts_payout_event_is_read_as_the_account_and_its_report_names_it(emea_with_a_shop):
    stripe_has_the_payout()
    event = {"id": "emea:evt_payout", "type": "payout.paid", "object_id": PAYOUT_ID, "pair": "emea",
             "account": SHOP}
    stage_input = {"event_id": event["id"], "type": "payout.paid", "object_id": PAYOUT_ID, "flow": FLOW.name}
    with working_for("emea"):
        ctx = context_for(event)
        for name in ("fetch", "transform", "validate", "post", "status_update"):
            stage_input = FLOW.stage(name)(ctx, stage_input)
        report = load_report(PAYOUT_ID)
    assert stripe_accounts_asked() == [SHOP, SHOP]  # the payout and its balance transactions
    assert report["account"] == SHOP and [row["source"] for row in report["unmatched"]] == ["ch_2"]


@responses.activate
def test_the_recheck_reads_the_accounts_payout_with_stripe_account(emea_with_a_shop, epicor):
    stored_for_the_shop(epicor.documents)
    epicor.documents["ch_2"] = DOCUMENTS["ch_2"]  # the late sale reaches Epicor
    stripe_has_the_payout()

    found = payout_recheck.run_pairs(["emea"])

    assert found["emea"]["reconciled"] == [{"payout": PAYOUT_ID, "status": "reconciled", "unmatched": 0}]
    assert stripe_accounts_asked() == [SHOP, SHOP]
    with working_for("emea"):
        assert load_report(PAYOUT_ID)["account"] == SHOP  # and the rebuilt report still names it


@responses.activate
def test_reconcile_and_post_read_the_stored_reports_account(emea_with_a_shop, epicor):
    stored_for_the_shop(epicor.documents)
    stripe_has_the_payout()
    reconciled = CliRunner().invoke(payouts_cli.main, ["reconcile", PAYOUT_ID, "--pair", "emea", "--json"])
    assert json.loads(reconciled.output)["account"] == SHOP
    posted = CliRunner().invoke(payouts_cli.main, ["post", PAYOUT_ID, "--pair", "emea"])
    assert posted.exit_code == 1  # payouts.yaml absent here: nothing posted, but read as the account
    assert stripe_accounts_asked() == [SHOP] * 4


@responses.activate
def test_a_payout_without_a_report_is_read_as_the_account_named_and_no_other(emea_with_a_shop):
    stripe_has_the_payout()
    CliRunner().invoke(payouts_cli.main, ["reconcile", PAYOUT_ID, "--pair", "emea", "--account", SHOP])
    assert stripe_accounts_asked() == [SHOP, SHOP]
    refused = CliRunner().invoke(payouts_cli.main, ["reconcile", PAYOUT_ID, "--pair", "emea",
                                                    "--account", "acct_1Stranger"])
    assert refused.exit_code == 2 and "acct_1Stranger is not a Connect account of pair emea" in refused.output
    responses.calls.reset()
    CliRunner().invoke(payouts_cli.main, ["reconcile", "po_platform", "--pair", "emea"])
    assert stripe_accounts_asked()[:1] == [None]  # the pair's own payout: the platform's, no header
