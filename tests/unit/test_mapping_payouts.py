"""Payout reconciliation: sorting, totals, matching by external reference, verdict and CSV."""

from __future__ import annotations

import csv
import io

from tasks.mapping.payouts import (
    build_report,
    category,
    references,
    report_csv,
    totals,
    transaction_facts,
)

PAYOUT = {"id": "po_1Pgc79B7WZ01zgkWu1KToYf4", "amount": 9331, "currency": "usd", "arrival_date": 1764201600}


def txn(txn_id: str, kind: str, amount: int, fee: int, source: object, reporting: str | None = None) -> dict:
    return {"id": txn_id, "object": "balance_transaction", "type": kind, "amount": amount, "fee": fee,
            "net": amount - fee, "currency": "usd", "source": source,
            "reporting_category": reporting or kind, "created": 1764000000}


TRANSACTIONS = [
    txn("txn_po", "payout", -9331, 0, "po_1Pgc79B7WZ01zgkWu1KToYf4"),
    txn("txn_ch1", "charge", 10000, 320, {"id": "ch_1", "object": "charge", "amount": 10000, "currency": "usd"}),
    txn("txn_ch2", "charge", 2500, 103, {"id": "ch_2", "object": "charge", "amount": 2500, "currency": "eur"}),
    txn("txn_re1", "refund", -1000, 0, {"id": "re_1", "object": "refund", "amount": 1000, "currency": "usd"}),
    txn("txn_dp1", "adjustment", -2000, 1500, {"id": "dp_1", "object": "dispute"}, "dispute"),
    txn("txn_dp1r", "adjustment", 2000, 0, {"id": "dp_1", "object": "dispute"}, "dispute_reversal"),
    txn("txn_fee", "stripe_fee", -246, 0, None, "fee"),
]
FACTS = [transaction_facts(t) for t in TRANSACTIONS]
DOCUMENTS = {"ch_1": {"kind": "receipt", "reference": "SC251126/1", "amount": "100.00"},
             "ch_2": {"kind": "receipt", "reference": "SC251126/2", "amount": "23.10"},
             "re_1": {"kind": "receipt", "reference": "SC251126/3", "amount": "-10.00"},
             "dp_1": {"kind": "receipt", "reference": "SC251126/4", "amount": "-20.00"},
             "dp_1-R": {"kind": "receipt", "reference": "SC251127/1", "amount": "20.00"}}


def test_transactions_are_sorted_into_categories():
    assert [category(t) for t in TRANSACTIONS] == ["payout", "charge", "charge", "refund", "dispute", "dispute",
                                                   "fee"]


def test_a_reinstatement_looks_for_its_reversal_document_first():
    assert references(FACTS[5]) == ["dp_1-R", "dp_1"]
    assert references(FACTS[4]) == ["dp_1"] and references(FACTS[6]) == []


def test_totals_add_up_to_the_net_of_the_transactions():
    line = totals(FACTS)["usd"]
    assert line == {"gross": 12500, "refunds": -1000, "disputes": 0, "other": 0, "fees": 2169, "net": 9331}
    assert line["gross"] + line["refunds"] + line["disputes"] + line["other"] - line["fees"] == line["net"]
    assert line["net"] == sum(t["net"] for t in TRANSACTIONS if t["type"] != "payout")


def test_everything_matched_and_netting_to_the_payout_is_reconciled():
    report = build_report(PAYOUT, FACTS, DOCUMENTS, 1764300000.0)
    assert report["status"] == "reconciled" and report["delta"] == 0 and report["unmatched"] == []
    assert report["matched_count"] == 5 and report["transaction_count"] == 6
    assert report["totals"]["usd"]["net_text"] == "93.31" and report["totals"]["usd"]["fees_text"] == "21.69"


def test_a_missing_document_a_wrong_amount_and_a_short_payout_are_reported():
    documents = {**DOCUMENTS, "ch_1": {"kind": "receipt", "reference": "SC251126/1", "amount": "99.00"}}
    documents.pop("re_1")
    report = build_report({**PAYOUT, "amount": 9300}, FACTS, documents, 1764300000.0)
    assert report["status"] == "mismatch" and report["delta"] == -31 and report["delta_text"] == "-0.31"
    notes = {t["source"]: t["note"] for t in report["unmatched"]}
    assert set(notes) == {"ch_1", "re_1"}
    assert "99.00" in notes["ch_1"] and "re_1" in notes["re_1"]


def test_csv_has_a_row_per_transaction_then_totals_and_the_payout():
    rows = list(csv.DictReader(io.StringIO(report_csv(build_report(PAYOUT, FACTS, DOCUMENTS, 1.0)))))
    assert [r["record"] for r in rows].count("transaction") == 7
    net = next(r for r in rows if r["record"] == "total" and r["category"] == "net")
    assert (net["currency"], net["amount"]) == ("USD", "93.31")
    payout = rows[-1]
    assert (payout["record"], payout["amount"], payout["category"]) == ("payout", "93.31", "reconciled")
    fee_row = next(r for r in rows if r["balance_transaction"] == "txn_fee")
    assert fee_row["matched"] == "n/a" and fee_row["amount"] == "-2.46"
