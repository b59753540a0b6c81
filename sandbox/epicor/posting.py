"""Posting processes of the bank documents (contract §5b, Posting; optional for the connector).

``Erp.PROC.BankAdjPostSvc``: ``GetNewParameters`` (GET) answers ``{"BankAdjPostParam": [row]}``;
``RunDirect {"ds"}`` with the row's ``GroupID`` posts that group's unposted adjustments.
``Erp.PROC.BankFundPostSvc`` does the same for one transfer, named by ``TranNum`` in
``BankFundPostParam`` (``SourceBank``/``TargetBank`` must match when set). Posted rows get
``GLPosted`` true, ``JournalCode`` ``BK`` and a ``JournalNum``, and cannot change afterwards. An unknown
group or transfer, a group with nothing unposted and a transfer already posted are 400s. A posted
adjustment group is removed, as Epicor removes posted entry groups: its ``GroupID`` answers 404 and
may be used again; the posted rows keep their ``GroupID``. Both answer ``{}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .documents.bank import TRANSFER, adjustments_of
from .documents.common import WriteContext, text
from .errors import business_error
from .schema import blank_row
from .store import Txn

if TYPE_CHECKING:
    from .state import EpicorState

BANK_JOURNAL = "BK"
ADJ_PARAM, FUND_PARAM = "BankAdjPostParam", "BankFundPostParam"


def _parameters(table: str) -> dict[str, Any]:
    row = blank_row(table, "")
    row.pop("Company")
    row["RowMod"] = "A"
    return {"returnObj": {table: [row]}}


def new_adjustment_parameters(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """An empty ``BankAdjPostParam`` row."""
    return _parameters(ADJ_PARAM)


def new_transfer_parameters(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """An empty ``BankFundPostParam`` row."""
    return _parameters(FUND_PARAM)


def post_adjustment_group(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Post the unposted adjustments of the row's ``GroupID``, then remove the group."""
    group_id = text(args["ds"], "GroupID")
    with state.store.lock:  # posting and removing the group are one step to every other request
        with state.store.transaction() as txn:
            group = txn.get("BankAdjEntries", (ctx.company, group_id))
            if group is None:
                raise business_error(f"Bank adjustment group {group_id or '(blank)'} is not valid.",
                                     ADJ_PARAM, "GroupID")
            rows = adjustments_of(txn, group)
            if not rows:
                raise business_error(f"Bank adjustment group {group_id} has nothing to post.", ADJ_PARAM,
                                     "GroupID")
            _mark_posted(txn, rows)
        state.store.remove("BankAdjEntries", (ctx.company, group_id))
    return {}


def post_transfer(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Post the two register rows of the row's ``TranNum``."""
    param = args["ds"]
    with state.store.transaction() as txn:
        rows = txn.where("BankTrans", Company=ctx.company, TranNum=param["TranNum"], SourceModule=TRANSFER)
        if len(rows) != 2:
            raise business_error(f"Bank funds transfer {param['TranNum']} is not valid.", FUND_PARAM, "TranNum")
        source, target = sorted(rows, key=lambda row: row["DocTranAmt"])
        for field, row in (("SourceBank", source), ("TargetBank", target)):
            if text(param, field) and text(param, field) != row["BankAcctID"]:
                raise business_error(f"{field} {param[field]} is not the transfer's bank ({row['BankAcctID']}).",
                                     FUND_PARAM, field)
        if any(row["GLPosted"] for row in rows):
            raise business_error(f"Bank funds transfer {param['TranNum']} is already posted.", FUND_PARAM, "TranNum")
        _mark_posted(txn, rows)
    return {}


def _mark_posted(txn: Txn, rows: list[dict]) -> None:
    journal = txn.next_number("BankJournalNum", 1)
    for row in list(rows):
        txn.update("BankTrans", {**row, "GLPosted": True, "JournalCode": BANK_JOURNAL, "JournalNum": journal})
