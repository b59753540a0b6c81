"""Payout reconciliation: a Stripe payout's balance transactions against Epicor. Pure functions.

Policy, as an accountant closing the month reads the report:

* **Every transaction counts.** Each balance transaction of the payout is sorted into ``charge``
  (card charges and other payments), ``refund``, ``dispute`` (withdrawals and reinstatements),
  ``fee`` (Stripe's own fee transactions) or ``other`` (transfers, adjustments …); the payout's own
  transaction is the amount paid out, never a line of the totals. Per currency: ``gross`` (charges),
  ``refunds``, ``disputes``, ``other``, ``fees`` (every fee withheld plus fee transactions) and
  ``net``, with ``gross + refunds + disputes + other - fees = net`` by construction, in minor units
  (exact) and as decimal text.
* **Matching by external reference.** A charge must have the Epicor cash receipt whose
  ``ExternalID`` is its id (``ch_…``/``py_…``), a refund its refund receipt or credit memo (``re_…``),
  a dispute withdrawal its chargeback receipt or credit (``dp_…``), a reinstatement its
  ``dp_…-R`` document. Where Stripe and Epicor hold the same currency the amounts must agree too.
  Fees and other transactions have no Epicor document and are reported, not matched.
* **Verdict.** ``reconciled`` when the payout amount equals the net of its transactions and every
  charge, refund and dispute is matched; otherwise ``mismatch`` with the ``delta`` (payout minus net)
  and the unmatched transactions, each with the reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tasks.connectors.stripe_objects import stripe_id
from tasks.mapping.currency import stripe_exponent

CHARGE_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund", "payment_failure_refund")
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")
FEE_TYPES = ("stripe_fee", "tax_fee", "application_fee", "stripe_fx_fee")
MATCHED_CATEGORIES = ("charge", "refund", "dispute", "payout_return")
PAYOUT_RETURN_TYPES = ("payout_failure", "payout_cancel")
TOTALS = ("gross", "refunds", "disputes", "other", "fees", "net")
CSV_COLUMNS = ("record", "payout", "currency", "balance_transaction", "type", "category", "source",
               "amount", "fee", "net", "epicor_document", "epicor_reference", "matched", "note")


def category(txn: Mapping[str, Any]) -> str:
    """``payout``, ``payout_return``, ``charge``, ``refund``, ``dispute``, ``fee`` or ``other``."""
    kind, reporting = txn.get("type"), txn.get("reporting_category")
    source = stripe_id(txn.get("source")) or ""
    if kind in PAYOUT_RETURN_TYPES:
        return "payout_return"  # an earlier payout's money back (contract §6b): matched by its reversal
    if kind == "payout" or reporting == "payout":
        return "payout"
    if kind in CHARGE_TYPES:
        return "charge"
    if kind in REFUND_TYPES or reporting == "refund":
        return "refund"
    if reporting in DISPUTE_CATEGORIES or source.startswith(("dp_", "du_")):
        return "dispute"
    if kind in FEE_TYPES or reporting == "fee":
        return "fee"
    return "other"


def transaction_facts(txn: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields of a balance transaction the report needs (source expanded or an id)."""
    source = txn.get("source")
    source_fields = source if isinstance(source, Mapping) else {}
    return {"id": txn["id"], "type": txn.get("type"), "reporting_category": txn.get("reporting_category"),
            "amount": int(txn.get("amount") or 0), "fee": int(txn.get("fee") or 0),
            "net": int(txn.get("net") or 0), "currency": str(txn.get("currency") or "").lower(),
            "source": stripe_id(source), "source_amount": source_fields.get("amount"),
            "source_currency": source_fields.get("currency"), "created": txn.get("created"),
            "description": txn.get("description"), "category": category(txn),
            "fee_details": [{"type": str(detail.get("type") or ""), "amount": int(detail.get("amount") or 0)}
                            for detail in txn.get("fee_details") or [] if isinstance(detail, Mapping)]}


def references(txn: Mapping[str, Any]) -> list[str]:
    """The Epicor ``ExternalID``s that may hold this transaction's document, best first."""
    source = txn.get("source")
    if txn["category"] not in MATCHED_CATEGORIES or not source:
        return []
    if txn["category"] == "dispute" and txn["amount"] > 0:
        return [f"{source}-R", source]
    if txn["category"] == "payout_return":
        return [f"{source}-R"]  # the reversing transfer (or journal) of the failed payout
    return [source]


def wanted_references(txns: list[Mapping[str, Any]]) -> list[str]:
    """Every reference to look up in Epicor, each once."""
    return list(dict.fromkeys(ref for txn in txns for ref in references(txn)))


def major(amount: int, currency: str) -> Decimal:
    """Minor units as a decimal amount (exact; never rounded)."""
    return Decimal(amount).scaleb(-stripe_exponent(currency))


def _text(amount: int, currency: str) -> str:
    return f"{major(amount, currency):f}"


def match(txn: Mapping[str, Any], documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The Epicor document of a transaction, or why there is none."""
    if txn["category"] not in MATCHED_CATEGORIES:
        return {"matched": None, "document": None, "note": "no Epicor document expected"}
    found = next((documents[ref] for ref in references(txn) if ref in documents), None)
    if found is None:
        return {"matched": False, "document": None,
                "note": _missing_note(txn)}
    expected = _expected_amount(txn)
    if expected is not None and found.get("amount") is not None and Decimal(str(found["amount"])) != expected:
        return {"matched": False, "document": found,
                "note": f"Epicor {found['kind']} {found['reference']} is {found['amount']}, Stripe {expected}"}
    return {"matched": True, "document": found, "note": ""}


def _missing_note(txn: Mapping[str, Any]) -> str:
    if txn["category"] == "payout_return":
        return f"no reversal of failed payout {txn.get('source')} in Epicor (reference {txn.get('source')}-R)"
    return f"no Epicor receipt or credit with ExternalID {txn.get('source') or '(no source)'}"


def _expected_amount(txn: Mapping[str, Any]) -> Decimal | None:
    """The amount the Epicor document should carry, when Stripe and Epicor share the currency."""
    if txn["category"] == "payout_return":
        return None  # the reversal moves the failed payout's amount; the return is checked by the net
    if txn.get("source_currency") and txn["source_currency"].lower() != txn["currency"]:
        return None
    return major(txn["amount"], txn["currency"])


def totals(txns: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per currency, in minor units: gross, refunds, disputes, other, fees, net."""
    sums: dict[str, dict[str, int]] = {}
    buckets = {"charge": "gross", "refund": "refunds", "dispute": "disputes", "other": "other",
               "payout_return": "other"}
    for txn in txns:
        if txn["category"] == "payout":
            continue
        line = sums.setdefault(txn["currency"], dict.fromkeys(TOTALS, 0))
        line["fees"] += txn["fee"] - (txn["amount"] if txn["category"] == "fee" else 0)
        if txn["category"] in buckets:
            line[buckets[txn["category"]]] += txn["amount"]
        line["net"] += txn["net"]
    return sums


def build_report(payout: Mapping[str, Any], txns: list[Mapping[str, Any]],
                 documents: Mapping[str, Mapping[str, Any]], checked_at: float) -> dict[str, Any]:
    """The reconciliation of one payout: totals, verdict, delta and unmatched transactions."""
    currency = str(payout["currency"]).lower()
    rows = [{**txn, **match(txn, documents)} for txn in txns]
    sums = totals(txns)
    net = sums.get(currency, {}).get("net", 0)
    delta = int(payout["amount"]) - net
    foreign = sorted(code for code, line in sums.items() if code != currency and line["net"])
    unmatched = [row for row in rows if row["matched"] is False]
    status = "reconciled" if delta == 0 and not unmatched and not foreign else "mismatch"
    return {
        "payout": payout["id"], "status": status, "currency": currency, "amount": int(payout["amount"]),
        "amount_text": _text(int(payout["amount"]), currency), "arrival_date": payout.get("arrival_date"),
        "delta": delta, "delta_text": _text(delta, currency), "checked_at": checked_at,
        "totals": {code: {**line, **{f"{name}_text": _text(line[name], code) for name in TOTALS}}
                   for code, line in sorted(sums.items())},
        "other_currencies": foreign, "transaction_count": len([t for t in txns if t["category"] != "payout"]),
        "matched_count": len([row for row in rows if row["matched"]]),
        "unmatched": [_brief(row) for row in unmatched],
        "transactions": [_brief(row) for row in rows],
    }


def _brief(row: Mapping[str, Any]) -> dict[str, Any]:
    document = row.get("document") or {}
    return {"id": row["id"], "type": row["type"], "category": row["category"], "source": row["source"],
            "currency": row["currency"], "amount": row["amount"], "fee": row["fee"], "net": row["net"],
            "matched": row["matched"], "epicor_document": document.get("kind"),
            "epicor_reference": document.get("reference"), "note": row["note"]}


def report_csv(report: Mapping[str, Any]) -> str:
    """The report as CSV for a spreadsheet: one row per transaction, then the totals and the payout."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    payout = report["payout"]
    for txn in report["transactions"]:
        code = txn["currency"]
        writer.writerow({"record": "transaction", "payout": payout, "currency": code.upper(),
                         "balance_transaction": txn["id"], "type": txn["type"], "category": txn["category"],
                         "source": txn["source"] or "", "amount": _text(txn["amount"], code),
                         "fee": _text(txn["fee"], code), "net": _text(txn["net"], code),
                         "epicor_document": txn["epicor_document"] or "",
                         "epicor_reference": txn["epicor_reference"] or "",
                         "matched": {True: "yes", False: "no", None: "n/a"}[txn["matched"]], "note": txn["note"]})
    for code, line in report["totals"].items():
        for name in TOTALS:
            writer.writerow({"record": "total", "payout": payout, "currency": code.upper(), "category": name,
                             "amount": line[f"{name}_text"]})
    writer.writerow({"record": "payout", "payout": payout, "currency": report["currency"].upper(),
                     "amount": report["amount_text"], "category": report["status"],
                     "note": f"delta {report['delta_text']}; {len(report['unmatched'])} unmatched"})
    return out.getvalue()


# -- fees per category (contract §6b's table) ------------------------------------------------------
FEE_CATEGORIES = ("processing", "dispute", "currency_conversion", "other")
PROCESSING_DETAILS = ("stripe_fee", "payment_method_passthrough_fee")
OTHER_DETAILS = ("application_fee", "tax", "withheld_tax")


def fee_totals(txns: list[Mapping[str, Any]]) -> dict[str, int]:
    """Stripe's fees of a payout per category, in minor units (a negative sum is fees returned).

    Policy, as §6b sums them: on dispute transactions every fee detail is a dispute fee; elsewhere
    ``stripe_fee``/``payment_method_passthrough_fee`` details are processing, ``application_fee``/
    ``tax``/``withheld_tax`` other, and a ``fee`` the details do not break down processing;
    ``stripe_fx_fee`` transactions are currency conversion and other fee or tax transactions other
    (their −amount). A detail of a type the table does not name is counted as other, so the
    categories always add up to every fee the payout's net is short of."""
    sums = dict.fromkeys(FEE_CATEGORIES, 0)
    for txn in txns:
        if txn.get("category") == "payout":
            continue
        for name, amount in _fees_of(txn):
            sums[name] += amount
    return sums


def _fees_of(txn: Mapping[str, Any]) -> list[tuple[str, int]]:
    if txn.get("type") == "stripe_fx_fee":
        return [("currency_conversion", -int(txn["amount"]))]
    if txn.get("reporting_category") in ("fee", "tax"):
        return [("other", -int(txn["amount"]))]
    details = list(txn.get("fee_details") or [])
    found = [(_detail_category(txn, detail["type"]), int(detail["amount"])) for detail in details]
    undetailed = int(txn.get("fee") or 0) - sum(amount for _, amount in found)
    return found + ([("processing", undetailed)] if undetailed else [])


def _detail_category(txn: Mapping[str, Any], detail_type: str) -> str:
    if txn.get("reporting_category") in DISPUTE_CATEGORIES:
        return "dispute"
    if detail_type in PROCESSING_DETAILS:
        return "processing"
    return "other"

