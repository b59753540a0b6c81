"""Is a code of a lookup table in Epicor? The console asks as a person types it, through the connector.

Policy: each row of a table that names an Epicor code is checked the way the pipeline will use it
(``tasks.mapping.reference``): a part must exist (Part Maintenance), a reason code must exist *with the
reason type* of reasons.yaml (Reason Maintenance; a code of another type is named as such, since Epicor
would refuse it on a credit memo), a currency must exist and be active, a terms code must exist, a bank
account must exist and be open, a bank fee id must exist. Which rows name which kind is ``RULES``, by file
and key, so a file added later (issue 15's ``payouts.yaml``) is checked by adding its lines here. A row
that names no Epicor code (a country name, a number of days) answers ``checked: false``.

The answer is a verdict, never an exception: ``ok`` true (found), false (not usable, with the message an
accountant acts on: what is wrong and the Epicor screen to fix it in) or None (Epicor could not be asked:
the row is not marked wrong for that). Reads only; nothing is written to Epicor.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasks.errors import PipelineError
from tasks.mapping import reference

MAX_CODE = 50


@dataclass(frozen=True)
class Rule:
    """Rows of ``file`` whose key matches ``pattern`` name an Epicor code of ``kind`` (in the key or the value)."""

    file: str
    pattern: str
    kind: str
    side: str = "value"


RULES: tuple[Rule, ...] = (
    Rule("parts.yaml", "products.*", "part"), Rule("parts.yaml", "prices.*", "part"),
    Rule("parts.yaml", "default_part", "part"),
    Rule("reasons.yaml", "refunds.*", "reason"), Rule("reasons.yaml", "disputes.*", "reason"),
    Rule("reasons.yaml", "reason_type", "reason_type"),
    Rule("currencies.yaml", "default", "none"), Rule("currencies.yaml", "*", "currency"),
    Rule("terms.yaml", "default", "none"), Rule("terms.yaml", "*", "terms", side="key"),
    Rule("payouts.yaml", "banks.*.*", "bank_account"), Rule("payouts.yaml", "fee_ids.*", "bank_fee"),
)
LABELS = {"bank_fee": ("Bank fee id", "Bank Fee Maintenance")}


def rule_for(file: str, key: str) -> Rule | None:
    found = next((rule for rule in RULES if rule.file == file and fnmatch.fnmatchcase(key, rule.pattern)), None)
    return None if found is None or found.kind == "none" else found


def verdict(ok: bool | None, message: str, kind: str = "", code: str = "") -> dict[str, Any]:
    return {"checked": True, "ok": ok, "kind": kind, "code": code, "message": message}


def check(file: str, key: str, value: str, *, reason_type: str, epicor: Any) -> dict[str, Any]:
    """The verdict on one row; ``epicor`` is an ``EpicorClient`` (or a fake of one)."""
    rule = rule_for(file, key)
    if rule is None:
        return {"checked": False, "ok": None, "kind": "", "code": "", "message": "not an Epicor code"}
    code = (key.rsplit(".", 1)[-1] if rule.side == "key" else str(value)).strip()
    if not code or len(code) > MAX_CODE:
        return verdict(False, f"an Epicor code is 1 to {MAX_CODE} characters", rule.kind, code)
    if rule.kind == "reason_type":
        return _reason_type(code)
    try:
        return CHECKS[rule.kind](epicor, code, reason_type)
    except PipelineError as exc:
        return verdict(None, f"not checked: Epicor could not be asked ({exc.reason})", rule.kind, code)
    except ValueError:  # an answer that is not the contract's JSON
        return verdict(None, "not checked: Epicor's answer could not be read", rule.kind, code)


def _label(kind: str) -> tuple[str, str]:
    if kind in LABELS:
        return LABELS[kind]
    entry = reference.CATALOGUE[kind]
    return entry.label, entry.screen


def _found(kind: str, code: str, row: dict[str, Any] | None, unusable: str = "") -> dict[str, Any]:
    label, screen = _label(kind)
    if row is None:
        return verdict(False, f"{label} '{code}' is not in Epicor: create it in {screen}, or use an existing one",
                       kind, code)
    if unusable:
        return verdict(False, f"{label} '{code}' is {unusable} in Epicor: reopen it in {screen}, or use another one",
                       kind, code)
    return verdict(True, f"{label} '{code}' exists in Epicor", kind, code)


def _part(epicor: Any, code: str, _: str) -> dict[str, Any]:
    return _found("part", code, epicor.get("Erp.BO.PartSvc", "Parts", code))


def _currency(epicor: Any, code: str, _: str) -> dict[str, Any]:
    row = epicor.get("Erp.BO.CurrencySvc", "Currencies", code)
    return _found("currency", code, row, "inactive" if row and row.get("Inactive") else "")


def _terms(epicor: Any, code: str, _: str) -> dict[str, Any]:
    return _found("terms", code, epicor.get("Erp.BO.TermsSvc", "Terms", code))


def _bank_account(epicor: Any, code: str, _: str) -> dict[str, Any]:
    row = epicor.get("Erp.BO.BankAcctSvc", "BankAccts", code)
    return _found("bank_account", code, row, "closed" if row and row.get("Closed") else "")


def _bank_fee(epicor: Any, code: str, _: str) -> dict[str, Any]:
    return _found("bank_fee", code, epicor.get("Erp.BO.BankFeeSvc", "BankFees", code))


def _reason(epicor: Any, code: str, reason_type: str) -> dict[str, Any]:
    """A reason code of the type reasons.yaml names; one of another type is not one Epicor accepts here."""
    if epicor.get("Erp.BO.ReasonSvc", "Reasons", reason_type, code) is not None:
        return verdict(True, f"Reason code '{code}' exists in Epicor with type {reason_type}", "reason", code)
    other = epicor.find_one("Erp.BO.ReasonSvc", "Reasons", ReasonCode=code)
    wanted = reference.REASON_TYPES.get(reason_type, "")
    screen = f"Reason Maintenance (type {reason_type}{', ' + wanted if wanted else ''})"
    if other is not None:
        return verdict(False, f"Reason code '{code}' is in Epicor with type {other.get('ReasonType')}, not "
                              f"{reason_type}: create it with type {reason_type} in {screen}", "reason", code)
    return verdict(False, f"Reason code '{code}' is not in Epicor: create it in {screen}, or use an existing one",
                   "reason", code)


def _reason_type(code: str) -> dict[str, Any]:
    if code in reference.REASON_TYPES:
        return verdict(True, f"type {code}: {reference.REASON_TYPES[code]}", "reason_type", code)
    known = ", ".join(f"{name} ({what})" for name, what in reference.REASON_TYPES.items())
    return verdict(False, f"reason type '{code}' is not one the service posts with; use {known}", "reason_type", code)


CHECKS: dict[str, Callable[[Any, str, str], dict[str, Any]]] = {
    "part": _part, "currency": _currency, "terms": _terms, "reason": _reason, "bank_account": _bank_account,
    "bank_fee": _bank_fee,
}

_local = threading.local()


def epicor_client() -> Any:
    """One connector per web thread (its HTTP pool reused between keystrokes); built on first use."""
    client = getattr(_local, "epicor", None)
    if client is None:
        from tasks.connectors.epicor import EpicorClient
        from tasks.settings import get_settings

        client = _local.epicor = EpicorClient(get_settings())
    return client
