"""Custom methods (contract §2, §4b): ``POST {Svc}/{Method}`` with a body of named parameters.

Only the methods of contract §4b exist; any other name in a method service is a 404 like an unknown
set. The body's names are the method's parameter names (case-sensitive) and every parameter must be
sent: an unknown, missing or wrongly typed parameter is a 400 ``ApiException`` like a bad body; the
wrong verb is a 405. A ``ds`` parameter is a tableset object keyed by table name holding one row,
whose fields are checked like a body's (an unknown field or a wrong JSON type is a 400); absent
columns take their empty values. Methods that write may be held back after committing
(``commit_then_timeout_rate``), as creates are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import journal_posting, posting, transfers
from .body import decode_json, typed_row
from .dates import normalize_date
from .documents.common import WriteContext
from .errors import api_error, business_error, deserialize_error
from .schema import COLUMNS, EntitySet, blank_row

if TYPE_CHECKING:
    from .state import EpicorState

Handler = Callable[["EpicorState", WriteContext, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    """One custom method: its service, verb, typed parameters and handler."""

    service: str
    name: str
    verb: str
    params: tuple[tuple[str, str], ...]
    run: Handler
    writes: bool = False


_DS = "ds:BankFundsTransfer"
METHODS: tuple[Method, ...] = (
    Method("Erp.BO.BankFundTranSvc", "CreateBankTran", "POST", (), transfers.create_bank_tran),
    Method("Erp.BO.BankFundTranSvc", "ChangeFromBank", "POST",
           (("bankAcctID", "str"), ("ds", _DS), ("isFirstBank", "bool")), transfers.change_from_bank),
    Method("Erp.BO.BankFundTranSvc", "ChangeTargetBank", "POST",
           (("toBankAcctID", "str"), ("ds", _DS), ("isFirstBank", "bool")), transfers.change_target_bank),
    Method("Erp.BO.BankFundTranSvc", "ChangeTranDate", "POST",
           (("tranDate", "date"), ("ds", _DS), ("fromSourceBank", "bool")), transfers.change_tran_date),
    Method("Erp.BO.BankFundTranSvc", "ChangeFromAmt", "POST",
           (("docTranAmt", "num"), ("ds", _DS), ("isFirstBank", "bool")), transfers.change_from_amt),
    Method("Erp.BO.BankFundTranSvc", "ValidateBeforeTransfer", "POST", (("ds", _DS),),
           transfers.validate_before_transfer),
    Method("Erp.BO.BankFundTranSvc", "CreateBankTranRecords", "POST", (("ds", _DS),),
           transfers.create_bank_tran_records, writes=True),
    Method("Erp.BO.BankFundTranSvc", "GetByTranNum", "POST", (("TranNum", "int"),), transfers.get_by_tran_num),
    Method("Erp.PROC.BankAdjPostSvc", "GetNewParameters", "GET", (), posting.new_adjustment_parameters),
    Method("Erp.PROC.BankAdjPostSvc", "RunDirect", "POST", (("ds", "ds:BankAdjPostParam"),),
           posting.post_adjustment_group, writes=True),
    Method("Erp.PROC.BankFundPostSvc", "GetNewParameters", "GET", (), posting.new_transfer_parameters),
    Method("Erp.PROC.BankFundPostSvc", "RunDirect", "POST", (("ds", "ds:BankFundPostParam"),),
           posting.post_transfer, writes=True),
    Method("Erp.BO.GLJrnGrpSvc", "PostGroupJournals", "POST", (("postGroupID", "str"),),
           journal_posting.post_group_journals, writes=True),
)

_BY_NAME = {(method.service.lower(), method.name): method for method in METHODS}
_SERVICES = {method.service.lower() for method in METHODS}
_KINDS = {"str": "a string", "date": "an ISO date string", "num": "a number", "int": "an integer",
          "bool": "a boolean"}


def find_method(service: str, name: str) -> Method | None:
    """The method ``name`` of ``service`` (service case-insensitive, name exact), or None."""
    return _BY_NAME.get((service.lower(), name))


def is_method_service(service: str) -> bool:
    """Whether ``service`` holds methods this emulator serves (and maybe no entity set)."""
    return service.lower() in _SERVICES


def call(state: EpicorState, method: Method, verb: str, raw_body: bytes) -> dict[str, Any]:
    """Check the verb and parameters, then run the method; returns its JSON answer."""
    if verb != method.verb:
        raise api_error(405, f"{verb} is not allowed on method {method.name}; use {method.verb}.")
    args = parse_arguments(state, method, raw_body if verb == "POST" else b"")
    return method.run(state, state.write_context(), args)


def parse_arguments(state: EpicorState, method: Method, raw_body: bytes) -> dict[str, Any]:
    """The body as typed arguments: exactly the method's parameters, each of its type."""
    body = _body_object(raw_body, method)
    names = {name for name, _ in method.params}
    unknown = sorted(set(body) - names)
    if unknown:
        raise deserialize_error("", unknown[0], f"Method {method.name} has no parameter '{unknown[0]}'.")
    missing = [name for name, _ in method.params if name not in body]
    if missing:
        raise deserialize_error("", missing[0], f"Parameter '{missing[0]}' of {method.name} is missing.")
    return {name: _argument(state, name, kind, body[name]) for name, kind in method.params}


def _body_object(raw_body: bytes, method: Method) -> dict[str, Any]:
    if not raw_body.strip():
        return {}
    try:
        body = decode_json(raw_body)
    except ValueError as exc:
        raise deserialize_error("", "", f"Invalid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise deserialize_error("", "", f"The body of {method.name} must be a JSON object of its parameters.")
    return body


def _argument(state: EpicorState, name: str, kind: str, value: Any) -> Any:
    if kind.startswith("ds:"):
        return _tableset_row(state, name, kind[3:], value)
    converted = _scalar(kind, value)
    if converted is _INVALID:
        raise deserialize_error("", name, f"Cannot convert the value of parameter '{name}' to {_KINDS[kind]}.")
    return converted


_INVALID = object()


def _scalar(kind: str, value: Any) -> Any:
    is_number = isinstance(value, (int, Decimal)) and not isinstance(value, bool)
    if kind == "str":
        return value if isinstance(value, str) else _INVALID
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if kind == "num":
        return value if is_number else _INVALID
    if kind == "int":
        return int(value) if is_number and value == int(value) else _INVALID
    normalized = normalize_date(value) if isinstance(value, str) else None
    return normalized if normalized is not None else _INVALID


def _tableset_row(state: EpicorState, name: str, table: str, value: Any) -> dict[str, Any]:
    """The one row of ``{table: [row]}``; other tables may only be empty lists."""
    if not isinstance(value, dict) or not isinstance(value.get(table), list) or len(value[table]) != 1:
        raise deserialize_error(table, "", f"Parameter '{name}' must be a tableset holding one {table} row.")
    others = [key for key, rows in value.items() if key != table and rows not in ([], None)]
    if others:
        raise deserialize_error(others[0], "", f"Table '{others[0]}' is not expected in parameter '{name}'.")
    document = value[table][0]
    if not isinstance(document, dict):
        raise deserialize_error(table, "", f"The {table} row of parameter '{name}' must be a JSON object.")
    row = blank_row(table, state.company)
    row.update(typed_row(document, EntitySet(table, "", table, ())))
    if "Company" not in COLUMNS[table]:  # process parameter rows have no Company column
        row.pop("Company")
        return row
    if row["Company"] not in (state.company, ""):
        raise business_error(f"Company {row['Company']} is not valid.", table, "Company")
    row["Company"] = state.company
    return row
