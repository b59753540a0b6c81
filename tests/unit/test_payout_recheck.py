"""payouts.recheck: which reports are reconciled again, and that Stripe is left alone until Epicor has
one of the missing documents."""

from __future__ import annotations

import pytest

from tasks import payout_recheck
from tasks.flows.payout_reconciliation import save_report
from tasks.mapping.payouts import build_report, transaction_facts
from tests.unit.test_mapping_payouts import DOCUMENTS, PAYOUT, TRANSACTIONS

NOW = 1_764_300_000.0
FACTS = [transaction_facts(t) for t in TRANSACTIONS]


def stored_report(payout_id: str, documents: dict, arrival: float) -> dict:
    report = build_report({**PAYOUT, "id": payout_id, "arrival_date": arrival}, FACTS, documents, arrival)
    save_report(report)
    return report


class Epicor:
    """What Epicor holds, by ExternalID; records every look-up."""

    def __init__(self, documents: dict):
        self.documents = documents
        self.asked: list[list[str]] = []

    def lookup(self, ctx, references):
        self.asked.append(list(references))
        return {ref: self.documents[ref] for ref in references if ref in self.documents}


@pytest.fixture()
def world(fake_redis, monkeypatch):
    epicor = Epicor(dict(DOCUMENTS))
    reconciled: list[str] = []
    monkeypatch.setattr(payout_recheck, "epicor_documents", epicor.lookup)

    def reconcile_now(ctx, payout_id):
        reconciled.append(payout_id)
        return stored_report(payout_id, epicor.documents, NOW - 3600)

    monkeypatch.setattr(payout_recheck, "reconcile_now", reconcile_now)
    return epicor, reconciled


def test_a_report_whose_missing_sale_is_now_in_epicor_is_reconciled_again(world):
    epicor, reconciled = world
    without_ch2 = {ref: doc for ref, doc in DOCUMENTS.items() if ref != "ch_2"}
    assert [row["source"] for row in stored_report("po_late", without_ch2, NOW - 3600)["unmatched"]] == ["ch_2"]
    stored_report("po_complete", DOCUMENTS, NOW - 3600)

    summary = payout_recheck.recheck(object(), now=NOW)

    assert epicor.asked == [["ch_2"]]  # only the missing reference, only of the incomplete report
    assert reconciled == ["po_late"]
    assert summary == {"checked": 1, "reconciled": [{"payout": "po_late", "status": "reconciled", "unmatched": 0}],
                       "failed": []}


def test_nothing_is_rebuilt_while_the_documents_are_still_missing(world):
    epicor, reconciled = world
    del epicor.documents["re_1"]
    stored_report("po_waiting", epicor.documents, NOW - 3600)
    assert payout_recheck.recheck(object(), now=NOW)["reconciled"] == []
    assert epicor.asked == [["re_1"]] and reconciled == []


def test_payouts_older_than_the_window_are_left_alone(world, monkeypatch):
    epicor, reconciled = world
    monkeypatch.setenv("PAYOUT_RECHECK_DAYS", "30")
    stored_report("po_old", {}, NOW - 31 * 86400)
    assert payout_recheck.recheck(object(), now=NOW)["checked"] == 0
    assert epicor.asked == []


def test_one_failing_payout_does_not_stop_the_others(world, monkeypatch):
    epicor, reconciled = world
    stored_report("po_a", {}, NOW - 7200)
    stored_report("po_b", {}, NOW - 3600)

    def flaky(ctx, payout_id):
        if payout_id == "po_a":
            raise ConnectionError("Stripe unreachable")
        reconciled.append(payout_id)
        return stored_report(payout_id, epicor.documents, NOW - 3600)

    monkeypatch.setattr(payout_recheck, "reconcile_now", flaky)
    summary = payout_recheck.recheck(object(), now=NOW)
    assert [f["payout"] for f in summary["failed"]] == ["po_a"]
    assert [r["payout"] for r in summary["reconciled"]] == ["po_b"]
