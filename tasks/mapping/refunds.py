"""Refund transform: one succeeded Stripe refund → an AR credit memo and the refund receipt applied to it.

Policy, as an accountant checks it:

* **One refund, one credit memo.** ``ExternalID`` is the refund id (``re_…``), so partial refunds of a
  payment are separate credit memos that add up, and a full refund leaves the sale's invoice and its
  credits netting to zero. The memo has one line: quantity ``-1`` at the refunded amount on the default
  part (``parts.yaml``), with text naming the refund, the payment and Stripe's reason; a partial refund
  cannot be traced to particular items, so no line pretends to.
* **Reason.** ``CMReason`` comes from ``Refund.reason`` through ``reasons.yaml`` (``default`` when Stripe
  gives none); the validate stage checks the code exists in Epicor's ``Reasons`` (ReasonType ``A``).
* **Against the sale.** Customer, currency, invoice type, order and ``InvoiceRef`` are those of the
  original invoice (``ExternalID`` = the charge id), which only the validate stage can read; they are
  not guessed here.
* **Cash.** A ``PayInv`` receipt of the negative amount (money paid back), ``ExternalID`` = the refund
  id, ``CheckRef`` = the charge id, applied to the credit memo so both show as settled.
* **Dates.** The refund's creation time as a calendar day in the company's zone; the documents land in
  that day's invoice and cash groups.

``adjustment_documents`` is the shared shape of "an AR document plus the receipt that settles it",
also used for chargebacks and their reversals. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tasks.mapping.currency import epicor_currency_code, format_amount, minor_to_decimal
from tasks.mapping.dates import epicor_date, group_id
from tasks.mapping.tables import Mappings

DESCRIPTION_LENGTH = 30
LINE_DESC_LENGTH = 1000
REFERENCE_LENGTH = 50
POSTABLE = "succeeded"
WAITING = ("pending", "requires_action")
NOT_PAID_OUT = ("failed", "canceled")


def reason_text(reason: str | None) -> str:
    """``requested_by_customer`` → ``requested by customer``; none → ``no reason given``."""
    return reason.replace("_", " ") if reason else "no reason given"


def adjustment_documents(*, external_id: str, charge_id: str, amount: Decimal, currency: str, date: str,
                         credit: bool, description: str, line_text: str, reference: str,
                         mappings: Mappings, reason_code: str | None = None) -> dict:
    """A credit memo (``credit``) or a debit invoice, and the receipt that settles it, JSON-ready.

    A credit memo's customer, type, order and ``InvoiceRef`` come from the sale's invoice at validate
    time; a debit invoice is a miscellaneous (``Mis``) invoice of the sale's customer.
    """
    signed = -amount if credit else amount
    code = epicor_currency_code(currency, mappings)
    header: dict = {"CreditMemo": credit, "InvoiceDate": date, "ExternalID": external_id,
                    "Description": description[:DESCRIPTION_LENGTH], "CurrencyCode": code}
    header |= {"CMReason": reason_code} if credit else {"InvoiceType": "Mis"}
    line = {"InvoiceLine": 1, "PartNum": mappings.default_part, "LineDesc": line_text[:LINE_DESC_LENGTH],
            "SellingShipQty": "-1" if credit else "1", "DocUnitPrice": format_amount(amount, currency),
            "SalesUM": mappings.sales_um}
    receipt = {"TranType": "PayInv", "TranDate": date, "DocTranAmt": format_amount(signed, currency),
               "CurrencyCode": code, "ExternalID": external_id, "CheckRef": charge_id,
               "BankAcctID": mappings.bank_account, "Reference": reference[:REFERENCE_LENGTH]}
    return {"external_id": external_id, "currency": code, "amount": format_amount(signed, currency),
            "credit": credit,
            "invoice_group": {"GroupID": group_id(mappings.invoice_group_prefix, date), "InvoiceDate": date},
            "cash_group": {"GroupID": group_id(mappings.cash_group_prefix, date), "TranDate": date,
                           "BankAcctID": mappings.bank_account},
            "invoice": {"header": header, "lines": [line]}, "receipt": {"header": receipt}}


def build_refund(refund: Mapping, mappings: Mappings) -> dict:
    """The credit memo and refund receipt of one succeeded refund."""
    charge_id, reason = refund["charge"], refund.get("reason")
    currency = refund["currency"]
    return adjustment_documents(
        external_id=refund["id"], charge_id=charge_id, amount=minor_to_decimal(refund["amount"], currency),
        currency=currency, date=epicor_date(refund["created"], mappings.timezone), credit=True,
        description="Stripe refund", reason_code=mappings.refund_reason_code(reason),
        line_text=f"Refund {refund['id']} of Stripe payment {charge_id} ({reason_text(reason)})",
        reference=f"Refund {refund['id']}", mappings=mappings)


def sort_refunds(refunds: list[Mapping]) -> dict[str, list[Mapping]]:
    """Refunds by what happens to them: ``post`` (succeeded), ``wait`` (pending), ``not_paid`` (failed …)."""
    sorted_refunds: dict[str, list[Mapping]] = {"post": [], "wait": [], "not_paid": []}
    for refund in refunds:
        status = refund.get("status")
        bucket = "post" if status == POSTABLE else "wait" if status in WAITING else "not_paid"
        sorted_refunds[bucket].append(refund)
    return sorted_refunds


def build_refunds(refunds: list[Mapping], mappings: Mappings) -> dict:
    """Documents for every postable refund, oldest first, and the ids of those that were not paid out."""
    by_outcome = sort_refunds(refunds)
    oldest_first = sorted(by_outcome["post"], key=lambda refund: (refund["created"], refund["id"]))
    return {"refunds": [build_refund(refund, mappings) for refund in oldest_first],
            "waiting": [refund["id"] for refund in by_outcome["wait"]],
            "not_paid": [refund["id"] for refund in by_outcome["not_paid"]]}
