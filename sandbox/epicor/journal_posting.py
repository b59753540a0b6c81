"""``Erp.BO.GLJrnGrpSvc/PostGroupJournals {"postGroupID"}``: posting a journal group (contract §5b).

Every journal of the group must have at least two lines and ``TotDebit`` = ``TotCredit`` unless its
``Override`` is true, otherwise a 400 names the journal and nothing posts; an unknown group or one
without journals is a 400. On success each manual line becomes a posted ``GLJrnDtls`` row (``Posted``
true, ``PostedDate`` today, ``Description`` kept); the lines, headers and the group disappear (404;
the ``GroupID`` may be used again). Answers ``{"parameters": {"NotAllPostedMessage": ""}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dates import today
from .documents.common import WriteContext, amount
from .documents.journals import header_key, journals_of, lines_of
from .errors import business_error
from .schema import COLUMNS, ENTITY_SETS, blank_row, key_of

if TYPE_CHECKING:
    from .state import EpicorState

TABLE = "GLJrnGrp"


def post_group_journals(state: EpicorState, ctx: WriteContext, args: dict[str, Any]) -> dict[str, Any]:
    """Post every journal of the group, or none."""
    group_id = args["postGroupID"]
    with state.store.lock:  # posting and removing are one step to every other request
        with state.store.transaction() as txn:
            group = txn.get("GLJrnGrps", (ctx.company, group_id))
            if group is None:
                raise business_error(f"Journal group {group_id or '(blank)'} is not valid.", TABLE, "GroupID")
            headers = [dict(header) for header in journals_of(txn, group)]
            if not headers:
                raise business_error(f"Journal group {group_id} has no journals to post.", TABLE, "GroupID")
            removed = [("GLJrnGrps", (ctx.company, group_id))]
            for header in headers:
                lines = [dict(line) for line in lines_of(txn, header)]
                _check_postable(header, lines)
                for line in lines:
                    txn.insert("GLJrnDtls", _posted(ctx, line))
                    removed.append(("GLJrnDtlMnls", key_of(ENTITY_SETS["GLJrnDtlMnls"], line)))
                removed.append(("GLJournalEntries", header_key(header)))
        for set_name, key in removed:
            state.store.remove(set_name, key)
    return {"parameters": {"NotAllPostedMessage": ""}}


def _check_postable(header: dict, lines: list[dict]) -> None:
    name = f"Journal {header['JournalCode']} {header['JournalNum']} ({header['Description'] or 'no description'})"
    if len(lines) < 2:
        raise business_error(f"{name} has fewer than two lines.", "GLJrnHed", "JournalNum")
    if amount(header, "TotDebit") != amount(header, "TotCredit") and not header["Override"]:
        raise business_error(f"{name} is out of balance: debit {header['TotDebit']}, credit "
                             f"{header['TotCredit']}.", "GLJrnHed", "JournalNum")


def _posted(ctx: WriteContext, line: dict) -> dict:
    row = blank_row("GLJrnDtl", ctx.company)
    row.update({name: value for name, value in line.items() if name in COLUMNS["GLJrnDtl"]})
    row.update(Posted=True, PostedDate=today(), PostedBy=ctx.username, BookDebitAmount=line["TotDebit"],
               BookCreditAmount=line["TotCredit"])
    return row
