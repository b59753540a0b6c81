"""Every piece of Epicor reference data the mapping files name: where it is set, where it is made, who makes it.

Policy (one rule per kind, the same at run time and in the pre-flight ``doctor``):

* The service **creates** what it can build completely from its own documents and what a race cannot
  duplicate: customers (the configured catch-all included, from ``catch_all_customer``) and the daily
  AR invoice and cash receipt groups (``<prefix>YYMMDD``). Creating them is idempotent: a customer is
  found by its CustID (unique in Epicor) or external reference first, a group by its GroupID.
* The service **requires** what carries accounting meaning an accountant must decide: parts,
  currencies, terms, reason codes (with their reason type), the bank account receipts go to, and the
  selling unit of measure. Creating any of them would post sales to ledgers nobody chose.

When a required code is missing, the payment stops with a ``MissingReference`` error whose reason is
``reference.missing_<kind>`` (never ``internal.unexpected``) and whose message, written for the
accountant, names the code, the Epicor screen where it is created and the mapping file and key that
point at it, e.g. "Part 'X' is not in Epicor: create it in Part Maintenance, or map product prod_1 to
an existing part in mappings/parts.yaml key products.prod_1". After the fix ``celery -A tasks dlq
retry`` posts the payment; its documents are idempotent per payment, so nothing is posted twice.

Epicor's own 400 refusals (contract §3: ``Ice.BLException`` with ``ErrorDetails[].Field``) are turned
into the same errors when the refused field is one of these codes (``from_refusal``): the field says
what kind of code it was, and the code is the one the service sent, never a guess from Epicor's wording.

This module is data and pure functions: no network, no Redis, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tasks.errors import ValidationFailed

if TYPE_CHECKING:
    from tasks.mapping.tables import Mappings

Policy = Literal["create", "require"]


@dataclass(frozen=True)
class ReferenceKind:
    """One kind of reference data: where the mappings name it and where Epicor keeps it."""

    kind: str
    label: str  # how the accountant calls one of them: "Part", "Terms code"
    mapping_file: str
    keys: tuple[str, ...]  # keys or key patterns of ``mapping_file`` that name it
    screen: str  # the Epicor screen where it is created
    policy: Policy
    entity: tuple[str, str]  # Epicor service and entity set (contract §4) that holds it
    fields: tuple[str, ...]  # Epicor columns that carry it on the documents the service writes

    @property
    def reason(self) -> str:
        """The error reason code of a missing (or refused) one."""
        return f"reference.missing_{self.kind}" if self.policy == "require" else f"reference.refused_{self.kind}"


CATALOGUE: dict[str, ReferenceKind] = {kind.kind: kind for kind in (
    ReferenceKind("part", "Part", "parts.yaml",
                  ("products.<stripe product id>", "prices.<stripe price id>", "default_part"),
                  "Part Maintenance", "require", ("Erp.BO.PartSvc", "Parts"), ("PartNum",)),
    ReferenceKind("unit_of_measure", "Unit of measure", "parts.yaml", ("sales_um",),
                  "UOM Maintenance", "require", ("Erp.BO.UOMSvc", "UOMs"), ("SalesUM",)),
    ReferenceKind("currency", "Currency", "currencies.yaml", ("<stripe currency>", "default"),
                  "Currency Maintenance", "require", ("Erp.BO.CurrencySvc", "Currencies"), ("CurrencyCode",)),
    ReferenceKind("terms", "Terms code", "defaults.yaml", ("terms_code",),
                  "Terms Maintenance", "require", ("Erp.BO.TermsSvc", "Terms"), ("TermsCode",)),
    ReferenceKind("reason", "Reason code", "reasons.yaml",
                  ("refunds.<stripe refund reason>", "refunds.default", "disputes.chargeback", "disputes.lost",
                   "reason_type"),
                  "Reason Maintenance", "require", ("Erp.BO.ReasonSvc", "Reasons"), ("CMReason", "ReasonCode")),
    ReferenceKind("bank_account", "Bank account", "defaults.yaml", ("bank_account",),
                  "Bank Account Maintenance", "require", ("Erp.BO.BankAcctSvc", "BankAccts"), ("BankAcctID",)),
    ReferenceKind("catch_all_customer", "Catch-all customer", "defaults.yaml",
                  ("catch_all_cust_id", "catch_all_name"),
                  "Customer Maintenance", "create", ("Erp.BO.CustomerSvc", "Customers"), ("CustID",)),
    ReferenceKind("invoice_group", "AR invoice group", "defaults.yaml", ("invoice_group_prefix",),
                  "AR Invoice Entry (groups)", "create", ("Erp.BO.InvcGrpSvc", "InvcGrps"), ("GroupID",)),
    ReferenceKind("cash_group", "Cash receipt group", "defaults.yaml", ("cash_group_prefix",),
                  "Cash Receipt Entry (groups)", "create", ("Erp.BO.CashGrpSvc", "CashGrps"), ("GroupID",)),
)}

# Reason types of Reason Maintenance that the mappings may name (reasons.yaml ``reason_type``).
REASON_TYPES = {"A": "AR credit memo"}

# Epicor columns whose refusal means a required code is missing; GroupID and CustID are created by us.
REQUIRED_FIELDS: dict[str, str] = {field: kind.kind for kind in CATALOGUE.values() if kind.policy == "require"
                                   for field in kind.fields}

# What a one-value setting of defaults.yaml / parts.yaml should be set to instead.
SETTING_FIXES = {"catch_all_customer": "the CustID of an existing customer",
                 "invoice_group": "other letters", "cash_group": "other letters",
                 "unit_of_measure": "an existing unit of measure"}

BUSINESS_RULE_TYPES = ("Ice.BLException", "Ice.Common.BusinessObjectException")


class MissingReference(ValidationFailed):
    """A required code is not in Epicor (or Epicor refused a code the service creates): an accountant's fix."""

    def __init__(self, kind: str, code: str, message: str):
        super().__init__(message, reason=CATALOGUE[kind].reason)
        self.kind = kind
        self.code = code


# -- where to fix it ---------------------------------------------------------------------------------
def mapping_path(kind: str, key: str) -> str:
    """``mappings/parts.yaml key products.prod_1``: the file and key a person edits."""
    return f"mappings/{CATALOGUE[kind].mapping_file} key {key}"


def part_keys(code: str, mappings: Mappings | None) -> list[str]:
    """The parts.yaml keys that map to ``code`` (products first, then prices, then the default part)."""
    if mappings is None:
        return []
    keys = [f"products.{product}" for product, part in mappings.products.items() if part == code]
    keys += [f"prices.{price}" for price, part in mappings.prices.items() if part == code]
    return keys + (["default_part"] if mappings.default_part == code else [])


def reason_keys(code: str, mappings: Mappings | None) -> list[str]:
    """The reasons.yaml keys that map to ``code``."""
    if mappings is None:
        return []
    keys = [f"refunds.{reason}" for reason, value in mappings.refund_reasons.items() if value == code]
    return keys + [f"disputes.{outcome}" for outcome, value in mappings.dispute_codes.items() if value == code]


def currency_keys(code: str, mappings: Mappings | None) -> list[str]:
    """The currencies.yaml keys (Stripe currencies) that map to ``code``."""
    return [stripe for stripe, value in (mappings.currencies if mappings else {}).items() if value == code]


def _part_fixes(code: str, mappings: Mappings | None) -> list[str]:
    fixes = []
    for key in part_keys(code, mappings):
        table, _, stripe_id = key.partition(".")
        if stripe_id:
            what = "product" if table == "products" else "price"
            fixes.append(f"map {what} {stripe_id} to an existing part in {mapping_path('part', key)}")
        else:
            fixes.append(f"set {mapping_path('part', key)} to an existing part")
    return fixes or ["change the Stripe metadata epicor_part_num / epicor_lines that names it, or map the product "
                     f"to an existing part in {mapping_path('part', 'products.<stripe product id>')}"]


def _reason_fixes(code: str, mappings: Mappings | None) -> list[str]:
    fixes = []
    for key in reason_keys(code, mappings):
        table, _, name = key.partition(".")
        if table == "refunds" and name != "default":
            fixes.append(f"map refund reason {name} to an existing reason code in {mapping_path('reason', key)}")
        else:
            fixes.append(f"set {mapping_path('reason', key)} to an existing reason code")
    return fixes or [f"change the reason code in {mapping_path('reason', 'refunds / disputes')}"]


def _currency_fixes(code: str, mappings: Mappings | None) -> list[str]:
    keys = currency_keys(code, mappings) or [code.lower()]
    return [f"map Stripe currency {key} to an existing currency code in {mapping_path('currency', key)}"
            for key in keys]


def fixes_for(kind: str, code: str, mappings: Mappings | None = None) -> list[str]:
    """What a person can change in the mappings instead of creating ``code`` in Epicor."""
    if kind == "part":
        return _part_fixes(code, mappings)
    if kind == "reason":
        return _reason_fixes(code, mappings)
    if kind == "currency":
        return _currency_fixes(code, mappings)
    entry = CATALOGUE[kind]
    return [f"set {mapping_path(kind, entry.keys[0])} to "
            + SETTING_FIXES.get(kind, f"an existing {entry.label.lower()}")]


def screen_for(kind: str, mappings: Mappings | None = None) -> str:
    """The Epicor screen, with the reason type for reason codes: "Reason Maintenance (type A, AR credit memo)"."""
    screen = CATALOGUE[kind].screen
    if kind != "reason" or mappings is None:
        return screen
    reason_type = mappings.reason_type
    described = f", {REASON_TYPES[reason_type]}" if reason_type in REASON_TYPES else ""
    return f"{screen} (type {reason_type}{described}; the type is {mapping_path('reason', 'reason_type')})"


# -- the accountant's messages -----------------------------------------------------------------------
def missing_message(kind: str, code: str, mappings: Mappings | None = None, *, epicor_said: str = "") -> str:
    """"Part 'X' is not in Epicor: create it in Part Maintenance, or map product prod_1 to an existing part in
    mappings/parts.yaml key products.prod_1" (with Epicor's own words when Epicor refused it)."""
    entry = CATALOGUE[kind]
    said = f" (Epicor: {epicor_said.strip()})" if epicor_said.strip() else ""
    fixes = "; or ".join(fixes_for(kind, code, mappings))
    if entry.policy == "create":
        return (f"Epicor refused to create {entry.label.lower()} '{code}'{said}: create it in {entry.screen}, "
                f"or {fixes}")
    return f"{entry.label} '{code}' is not in Epicor{said}: create it in {screen_for(kind, mappings)}, or {fixes}"


def missing(kind: str, codes: list[str] | str, mappings: Mappings | None = None, *,
            epicor_said: str = "") -> MissingReference:
    """The error for one or more missing codes of one kind (one sentence per code)."""
    codes = [codes] if isinstance(codes, str) else list(dict.fromkeys(codes))
    message = " ".join(missing_message(kind, code, mappings, epicor_said=epicor_said).rstrip(".") + "."
                       for code in codes)
    return MissingReference(kind, ", ".join(codes), message)


def from_refusal(status: int, error_type: str, field: str, epicor_message: str, sent: Mapping[str, str],
                 mappings: Mappings | None = None) -> MissingReference | None:
    """Epicor's 400 on a reference column as the accountant's error; None when it is something else.

    ``sent`` holds the codes the refused call carried, by Epicor column (``{"TermsCode": "N30"}``): the
    refused field picks the kind and the code, so Epicor's wording is quoted, never parsed.
    """
    kind = REQUIRED_FIELDS.get(field)
    if status != 400 or error_type not in BUSINESS_RULE_TYPES or kind is None or not sent.get(field):
        return None
    return missing(kind, sent[field], mappings, epicor_said=epicor_message)
