"""Read-outs for tests and the sandbox CLI: a bank's register and the GL journals of a reference.

``GET /_sandbox/epicor/bank/<BankAcctID>`` (``?TranRef=po_…`` to narrow it) answers the bank's rows
(cash receipts, adjustments, both sides of transfers) in ``TranNum`` order and the balance per
currency (the sum of ``DocTranAmt``), so an integration test can check that the Stripe clearing bank
nets to zero over a payout without knowing how rows are keyed. An unknown bank is a 404.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import request

from .errors import api_error
from .money import round_money, to_decimal

if TYPE_CHECKING:
    from .state import EpicorState

_SHOWN = ("TranNum", "Voided", "TranDate", "DocTranAmt", "CurrencyCode", "TranAmt", "TranRef", "BankFeeID",
          "GroupID", "HeadNum", "SourceModule", "GLPosted", "JournalCode", "JournalNum", "FiscalYear",
          "FiscalPeriod")


def bank_register(state: EpicorState, bank_id: str) -> dict[str, Any]:
    """The bank's rows and its balance per currency (optionally only the rows of one ``TranRef``)."""
    reference = request.args.get("TranRef")
    with state.store.transaction() as txn:
        if txn.get("BankAccts", (state.company, bank_id)) is None:
            raise api_error(404, f"No bank account {bank_id}.")
        equals = {"Company": state.company, "BankAcctID": bank_id}
        if reference is not None:
            equals["TranRef"] = reference
        rows = sorted(txn.where("BankTrans", **equals), key=lambda row: (row["TranNum"], row["Voided"]))
    balance: dict[str, Decimal] = {}
    for row in rows:
        balance[row["CurrencyCode"]] = balance.get(row["CurrencyCode"], Decimal(0)) + to_decimal(row["DocTranAmt"])
    return {"BankAcctID": bank_id, "TranRef": reference,
            "rows": [{name: row.get(name) for name in _SHOWN} for row in rows],
            "balance": {code: float(round_money(total, code)) for code, total in sorted(balance.items())}}
