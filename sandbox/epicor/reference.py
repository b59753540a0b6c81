"""Reference data a fresh emulator starts with (contract §8).

Parts and reason codes are seeded as rows by ``seed.py``. The set-up sets of contract §4 (the company,
currencies, terms) and the bank accounts are served read-only as rows too (``seed_setup``), so the
pre-flight check (``tasks.doctor``) reads them as it reads a real Epicor. The business rules still
consult the constants below for currencies, terms and bank accounts.

Tests remove any of these rows (``DELETE /_sandbox/epicor/reference/<set>/<code>``, ``admin.py``) to
show what the doctor says about a site missing one; a reset seeds them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schema import blank_row

if TYPE_CHECKING:  # the store imports this module (money.py): no import cycle at run time
    from .store import RowStore

# Currency code -> decimal places amounts may carry.
CURRENCIES: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}
BASE_CURRENCY = "USD"

# Terms code -> days until due.
TERMS: dict[str, int] = {"N30": 30}

BANK_ACCOUNTS: frozenset[str] = frozenset({"MAIN"})

# (PartNum, PartDescription, UnitPrice, UOM)
PARTS: tuple[tuple[str, str, float, str], ...] = (
    ("STRIPE-SALE", "Stripe sale", 0.00, "EA"),
    ("WIDGET-100", "Widget 100", 12.50, "EA"),
    ("GADGET-200", "Gadget 200", 49.00, "EA"),
    ("SUB-MONTHLY", "Monthly subscription", 20.00, "EA"),
)

REASON_TYPE = "A"
# (ReasonCode, Description)
REASONS: tuple[tuple[str, str], ...] = (
    ("DUPL", "Duplicate charge"),
    ("FRAUD", "Fraudulent charge"),
    ("CUSTREQ", "Requested by customer"),
    ("EXPIRED", "Expired uncaptured charge"),
    ("OTHER", "Other"),
    ("DISPUTE", "Chargeback credit"),
    ("DISPLOST", "Dispute lost"),
)

# Numbers a fresh system assigns first.
FIRST_NUMBERS: dict[str, int] = {"CustNum": 201, "OrderNum": 5001, "InvoiceNum": 70001}

# Bank accounts served as rows (contract §8): the clearing account, the operating account, a closed one.
BANK_ROWS: tuple[tuple[str, str, bool], ...] = (
    ("MAIN", "Stripe clearing", False), ("OPER", "Operating account", False), ("RETIRED", "Closed account", True))
BANK_CURRENCY = "USD"
SETUP_SEEDED = "setup_seeded"  # meta flag: a database made before the set-up sets existed gets them once


def setup_rows(company: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``Companies``, ``Currencies``, ``Terms`` and ``BankAccts`` for ``company``."""
    company_row = {key: value for key, value in blank_row("Company", company).items() if key != "Company"}
    company_row.update(Company1=company, Name=f"{company} (sandbox)", BaseCurrCode=BASE_CURRENCY,
                       FiscalCalendarID="MAIN", Country="USA", CurrentFiscalYear=2026)
    return {
        "Companies": [company_row],
        "Currencies": [{**blank_row("Currency", company), "CurrencyCode": code, "CurrencyID": code,
                        "CurrDesc": code, "CurrName": code, "DecimalsGeneral": decimals,
                        "BaseCurr": code == BASE_CURRENCY} for code, decimals in CURRENCIES.items()],
        "Terms": [{**blank_row("Terms", company), "TermsCode": code, "Description": f"Net {days}",
                   "NumberOfDays": days, "TermsType": "D"} for code, days in TERMS.items()],
        "BankAccts": [{**blank_row("BankAcct", company), "BankAcctID": bank, "CurrencyCode": BANK_CURRENCY,
                       "Description": description, "Closed": closed} for bank, description, closed in BANK_ROWS],
    }


def seed_setup(store: RowStore, company: str) -> None:
    """Insert the set-up rows once per database (fresh, reset, or made by an older sandbox)."""
    if store.get_meta(SETUP_SEEDED) is not None:
        return
    with store.transaction() as txn:
        for set_name, rows in setup_rows(company).items():
            for row in rows:
                txn.insert(set_name, row)
    store.set_meta(SETUP_SEEDED, company)


# Sets a test may remove a row from, and how a code in the URL becomes the row's key.
REMOVABLE: dict[str, str] = {"Parts": "PartNum", "Reasons": "ReasonType/ReasonCode", "Currencies": "CurrencyCode",
                             "Terms": "TermsCode", "BankAccts": "BankAcctID", "Companies": "Company1",
                             "BankFees": "BankFeeID", "JrnlCodes": "JournalCode", "GLBooks": "BookID",
                             "COAs": "COACode", "GLAccounts": "COACode/GLAccount1"}
_TWO_PART = ("Reasons", "GLAccounts")  # codes given as ``<first key>/<second key>``


def reference_key(set_name: str, company: str, code: str) -> tuple:
    """The key of the row ``code`` names in ``set_name`` (``A/OTHER`` for a reason: type, then code)."""
    if set_name == "Companies":
        return (code,)
    return (company, *code.split("/", 1)) if set_name in _TWO_PART else (company, code)
