"""`GET /api/payouts/<id>` and `<id>.csv`: the stored reconciliation report over HTTP."""

from __future__ import annotations

import csv
import io

from tasks.flows.payout_reconciliation import save_report
from tasks.mapping.payouts import build_report, transaction_facts

PAYOUT = {"id": "po_web1", "amount": 941, "currency": "usd", "arrival_date": 1764201600}
TXNS = [transaction_facts({"id": "txn_1", "type": "charge", "amount": 1000, "fee": 59, "net": 941,
                           "currency": "usd", "source": "ch_1", "reporting_category": "charge"})]


def test_report_is_served_as_json_and_csv(client):
    save_report(build_report(PAYOUT, TXNS, {}, 1764300000.0))
    answer = client.get("/api/payouts/po_web1")
    assert answer.status_code == 200
    report = answer.get_json()
    assert report["status"] == "mismatch" and report["unmatched"][0]["source"] == "ch_1"
    assert report["totals"]["usd"]["net"] == 941
    answer = client.get("/api/payouts/po_web1.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0]["balance_transaction"] == "txn_1" and rows[0]["matched"] == "no"


def test_unknown_payout_is_404_in_both_forms(client):
    assert client.get("/api/payouts/po_missing").status_code == 404
    assert client.get("/api/payouts/po_missing.csv").status_code == 404
