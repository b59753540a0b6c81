"""Reference data a fresh emulator starts with (contract §8).

Currencies, terms and bank accounts are lookups the business rules consult but the integration never
reads over REST, so they live here as constants. Parts and reason codes are real entity sets
(``Parts``, ``Reasons``) and are seeded as rows by ``seed.py``.
"""

from __future__ import annotations

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
