"""A Stripe payout as Epicor bank documents (the "bank shape", contract §4b, §5b, §6b).

Per payout: one bank adjustment per fee category with a non-zero sum on the clearing bank (money out:
``DocTranAmt`` = − the sum, the category's Bank Fee ID) in the day's adjustment group, then one bank
funds transfer of the payout amount from the clearing bank to the operating bank, every row carrying
``TranRef`` = the payout id. A failed payout whose transfer was made gets one transfer back, operating
→ clearing, ``TranRef`` = ``po_…-R``; the fee adjustments stay, because Stripe keeps the fees.

Idempotency (the rule of §4 and §6b): before anything is created, every bank row carrying the payout's
reference is read (``BankTrans?$filter=TranRef eq …``). A fee category is done when a row on the
clearing bank carries its Bank Fee ID; the transfer is done when a row on the operating bank carries
the reference. Only what is missing is created, the transfer last, so a worker killed between the fee
adjustments and the transfer, a create that committed and then timed out, or a redelivered event
completes the payout and never duplicates a document. The caller holds the payout's lock, so two
workers never post one payout at the same time. Voided rows do not count as done.

``plan`` is pure (what transform builds and a dry run shows); ``post_plan`` and ``post_reversal`` talk
to Epicor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tasks.connectors.epicor import AlreadyExists, odata_literal
from tasks.context import Context
from tasks.errors import PermanentError, ValidationFailed
from tasks.mapping.currency import format_amount, minor_to_decimal
from tasks.mapping.dates import EPICOR_DATE_FORMAT, group_id
from tasks.mapping.payout_settings import PayoutSettings
from tasks.mapping.payouts import FEE_CATEGORIES

ADJUSTMENTS = ("Erp.BO.BankAdjEntrySvc", "BankTrans")
GROUPS = ("Erp.BO.BankAdjEntrySvc", "BankAdjEntries")
FUNDS = "Erp.BO.BankFundTranSvc"
ROW_FIELDS = "BankAcctID,TranNum,Voided,BankFeeID,DocTranAmt,GroupID,GLPosted,TranRef"
REVERSAL_SUFFIX = "-R"


def arrival_day(arrival_date: int) -> str:
    """Stripe's ``arrival_date`` is midnight UTC of the arrival day: that calendar day, as Epicor takes it
    (read in UTC on purpose: in a company zone west of UTC it would fall on the day before)."""
    return datetime.fromtimestamp(int(arrival_date), UTC).strftime(EPICOR_DATE_FORMAT)


def amount_text(minor: int, currency: str) -> str:
    """Stripe minor units as Epicor decimal text with the currency's decimals (JPY 500, KWD 1.250)."""
    return format_amount(minor_to_decimal(minor, currency), currency)


def wire_amount(text: str) -> int | float:
    """Decimal text as a JSON number: whole amounts as integers (JPY ``500``, never ``500.0``)."""
    number = Decimal(text)
    if number == number.to_integral_value():
        return int(number)
    wire = float(number)
    if Decimal(repr(wire)) != number:
        raise ValidationFailed(f"{text} cannot be sent to Epicor exactly", reason="validation.precision")
    return wire


def plan(payout: Mapping[str, Any], fees: Mapping[str, int], settings: PayoutSettings,
         currency_code: str) -> dict[str, Any]:
    """Every bank document of one payout, amounts as decimal text (``fees``: minor units per category)."""
    currency = str(payout["currency"]).lower()
    banks = settings.banks_for(currency)
    date = arrival_day(payout["arrival_date"])
    adjustments = [{"category": name, "BankFeeID": settings.fee_ids[name],
                    "DocTranAmt": amount_text(-fees[name], currency)}
                   for name in FEE_CATEGORIES if fees.get(name)]
    return {"shape": "bank", "payout": payout["id"], "currency": currency, "CurrencyCode": currency_code,
            "date": date, "clearing": banks.clearing, "operating": banks.operating,
            "group": group_id(settings.group_prefix_for(currency), date), "adjustments": adjustments,
            "transfer": {"amount": amount_text(int(payout["amount"]), currency), "from": banks.clearing,
                         "to": banks.operating, "TranRef": payout["id"]}}


# -- what exists --------------------------------------------------------------------------------------
def rows_with(ctx: Context, references: list[str]) -> list[dict[str, Any]]:
    """Every bank row (adjustments, transfer rows, receipts) carrying one of ``references``."""
    condition = " or ".join(f"TranRef eq {odata_literal(ref)}" for ref in references)
    return [row for row in ctx.epicor.query(*ADJUSTMENTS, condition, select=ROW_FIELDS) if not row.get("Voided")]


def progress(bank_plan: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What of the plan Epicor already holds: the TranNum of each fee category and of the transfer."""
    ref, clearing, operating = bank_plan["payout"], bank_plan["clearing"], bank_plan["operating"]
    mine = [row for row in rows if row.get("TranRef") == ref]
    fees = {}
    for adjustment in bank_plan["adjustments"]:
        found = next((row for row in mine if row.get("BankAcctID") == clearing
                      and row.get("BankFeeID") == adjustment["BankFeeID"]), None)
        fees[adjustment["category"]] = found.get("TranNum") if found else None
    transfer = next((row for row in mine if row.get("BankAcctID") == operating
                     and Decimal(str(row.get("DocTranAmt") or 0)) > 0), None)
    return {"fees": fees, "transfer": transfer.get("TranNum") if transfer else None}


def reversal_needed(bank_plan: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """``"none"`` (the payout's transfer was never made), ``"done"`` (its reversal exists) or ``"create"``."""
    if any(row.get("TranRef") == bank_plan["payout"] + REVERSAL_SUFFIX for row in rows):
        return "done"
    return "create" if progress(bank_plan, rows)["transfer"] is not None else "none"


# -- posting ------------------------------------------------------------------------------------------
def post_plan(ctx: Context, bank_plan: Mapping[str, Any]) -> dict[str, Any]:
    """Create what is missing (fees first, the transfer last); the document numbers, each marked new or found."""
    done = progress(bank_plan, rows_with(ctx, [bank_plan["payout"]]))
    documents = []
    for adjustment in bank_plan["adjustments"]:
        tran_num, created = done["fees"][adjustment["category"]], False
        if tran_num is None:
            ensure_group(ctx, bank_plan["group"], bank_plan["clearing"], bank_plan["date"])
            tran_num, created = create_adjustment(ctx, bank_plan, adjustment), True
        documents.append({"kind": "bank_adjustment", "category": adjustment["category"],
                          "BankFeeID": adjustment["BankFeeID"], "BankAcctID": bank_plan["clearing"],
                          "GroupID": bank_plan["group"], "TranNum": tran_num, "amount": adjustment["DocTranAmt"],
                          "created": created})
    tran_num, created = done["transfer"], False
    if tran_num is None:
        tran_num, created = transfer(ctx, bank_plan["transfer"], bank_plan["date"], bank_plan["CurrencyCode"]), True
    documents.append({"kind": "funds_transfer", "TranRef": bank_plan["payout"], "from": bank_plan["clearing"],
                      "to": bank_plan["operating"], "TranNum": tran_num, "amount": bank_plan["transfer"]["amount"],
                      "created": created})
    return {"shape": "bank", "documents": documents}


def post_reversal(ctx: Context, bank_plan: Mapping[str, Any], date: str) -> dict[str, Any] | None:
    """The failed payout's transfer back, operating → clearing (``po_…-R``); None when nothing is to be
    reversed because the transfer was never made."""
    reference = bank_plan["payout"] + REVERSAL_SUFFIX
    rows = rows_with(ctx, [bank_plan["payout"], reference])
    state = reversal_needed(bank_plan, rows)
    if state == "none":
        return None
    existing = next((row for row in rows if row.get("TranRef") == reference
                     and row.get("BankAcctID") == bank_plan["clearing"]), None)
    tran_num, created = (existing or {}).get("TranNum"), False
    if state == "create":
        back = {"amount": bank_plan["transfer"]["amount"], "from": bank_plan["operating"],
                "to": bank_plan["clearing"], "TranRef": reference}
        tran_num, created = transfer(ctx, back, date, bank_plan["CurrencyCode"]), True
    return {"shape": "bank", "documents": [{"kind": "funds_transfer", "TranRef": reference,
                                            "from": bank_plan["operating"], "to": bank_plan["clearing"],
                                            "TranNum": tran_num, "amount": bank_plan["transfer"]["amount"],
                                            "created": created}]}


def ensure_group(ctx: Context, group: str, bank: str, date: str) -> None:
    """The day's adjustment group on the clearing bank (a 409 means another worker made it)."""
    found = ctx.epicor.get(*GROUPS, group)
    if found is None:
        try:
            found = ctx.epicor.create(*GROUPS, {"Company": ctx.epicor.company, "GroupID": group,
                                                "BankAcctID": bank, "TranDate": date})
        except AlreadyExists:
            found = ctx.epicor.get(*GROUPS, group) or {}
    if found.get("BankAcctID") not in (None, bank):
        raise PermanentError(f"Epicor bank adjustment group {group} is on bank {found.get('BankAcctID')}, not the "
                             f"clearing bank {bank}: give this currency its own group_prefix in payouts.yaml",
                             reason="payout.group_bank")


def create_adjustment(ctx: Context, bank_plan: Mapping[str, Any], adjustment: Mapping[str, Any]) -> int:
    row = {"Company": ctx.epicor.company, "BankAcctID": bank_plan["clearing"], "TranNum": 0, "Voided": False,
           "GroupID": bank_plan["group"], "TranDate": bank_plan["date"],
           "DocTranAmt": wire_amount(adjustment["DocTranAmt"]), "CurrencyCode": bank_plan["CurrencyCode"],
           "BankFeeID": adjustment["BankFeeID"], "TranRef": bank_plan["payout"]}
    return int(ctx.epicor.create(*ADJUSTMENTS, row)["TranNum"])


def transfer(ctx: Context, move: Mapping[str, Any], date: str, currency_code: str) -> int:
    """One bank funds transfer through §6b's method sequence; its ``TranNum``."""
    epicor = ctx.epicor
    ds = epicor.invoke(FUNDS, "CreateBankTran", {})["returnObj"]
    ds = _step(ctx, "ChangeFromBank", {"bankAcctID": move["from"], "ds": ds, "isFirstBank": True})
    ds = _step(ctx, "ChangeTargetBank", {"toBankAcctID": move["to"], "ds": ds, "isFirstBank": False})
    ds = _step(ctx, "ChangeTranDate", {"tranDate": date, "ds": ds, "fromSourceBank": True})
    row = ds["BankFundsTransfer"][0]
    row["TranRef"] = move["TranRef"]
    if row.get("CurrencyCode") != currency_code:  # a payout in another currency than the banks'
        row["CurrencyCode"] = row["ToCurrencyCode"] = currency_code
    ds = _step(ctx, "ChangeFromAmt", {"docTranAmt": wire_amount(move["amount"]), "ds": ds, "isFirstBank": True})
    return int(epicor.invoke(FUNDS, "CreateBankTranRecords", {"ds": ds})["returnObj"])


def _step(ctx: Context, method: str, params: dict[str, Any]) -> dict[str, Any]:
    return ctx.epicor.invoke(FUNDS, method, params)["parameters"]["ds"]
