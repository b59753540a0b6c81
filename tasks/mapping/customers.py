"""Stripe customer → Epicor customer: how to find it, what to create, what to change, and the
customer's subscription standing. Pure functions.

Policy:

* **One customer, whichever event comes first.** A Stripe customer is matched exactly as the payment
  flow matches a payer (``customer_section`` of the order-to-cash mapping: ``epicor_cust_num`` /
  ``epicor_cust_id`` metadata, then ``ExternalID`` = the ``cus_`` id) and proposes the same
  ``CustID``, so a payment and a ``customer.created`` racing each other find or make the same row.
* **Contact changes only.** An update touches ``Name``, ``EMailAddress``, ``PhoneNum`` and the
  address, and only where Stripe has a value that differs from Epicor: a blank in Stripe never wipes
  what someone typed in Epicor, and ``CustID``, terms and currency are never changed. An address is
  replaced as a whole (a cleared second line is cleared) when Stripe has one.
* **Standing.** A customer is put on ``CreditHold`` while Stripe says it is ``delinquent`` (a failed
  automatic payment or an overdue invoice) or while any of its subscriptions is ``past_due`` or
  ``unpaid``. The integration lifts only a hold it placed itself, never one an accountant set. The
  customer's ``Comment`` carries one line ``Stripe subscriptions: sub_… active, …`` that the
  integration rewrites; the rest of the comment is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tasks.mapping.address import clean_text, has_address, split_address
from tasks.mapping.order_to_cash import PHONE_LENGTH, customer_name, customer_section
from tasks.mapping.tables import Mappings

CONTACT_FIELDS = ("Name", "EMailAddress", "PhoneNum")
ADDRESS_FIELDS = ("Address1", "Address2", "Address3", "City", "State", "Zip", "Country")
DELINQUENT_STATUSES = ("past_due", "unpaid")
COMMENT_PREFIX = "Stripe subscriptions:"
COMMENT_MAX_SUBSCRIPTIONS = 10


def as_payer(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The Stripe customer in the shape the payment flow's customer mapping reads."""
    return {"charge": {"id": None, "metadata": {}, "billing_details": {}, "customer": customer["id"]},
            "customer": customer}


def customer_match(customer: Mapping[str, Any], mappings: Mappings, currency_code: str) -> dict[str, Any]:
    """``match`` / ``create`` / ``cust_id_alternates`` for a Stripe customer, as the payment flow builds them.

    ``currency_code`` may be blank (a Stripe customer that never paid has no currency): the created
    customer then takes Epicor's base currency.
    """
    section = customer_section(as_payer(customer), mappings, currency_code)
    if not currency_code:
        section["create"] = {k: v for k, v in section["create"].items() if k != "CurrencyCode"}
    return section


def wanted_contact(customer: Mapping[str, Any], mappings: Mappings) -> dict[str, str]:
    """The Epicor contact values Stripe has an opinion on (blank Stripe values are left out)."""
    wanted: dict[str, str] = {}
    name = clean_text(customer.get("name"))
    email = clean_text(customer.get("email"))
    if name or email:
        wanted["Name"] = customer_name({"name": name, "email": email}, customer.get("id"))
    if email:
        wanted["EMailAddress"] = email
    phone = clean_text(customer.get("phone"))
    if phone:
        wanted["PhoneNum"] = phone[:PHONE_LENGTH]
    if has_address(customer.get("address")):
        wanted.update(split_address(customer.get("address"), mappings.countries))
    return wanted


def contact_changes(row: Mapping[str, Any], wanted: Mapping[str, str]) -> dict[str, str]:
    """The fields of ``wanted`` whose Epicor value differs (compared as trimmed text)."""
    return {name: value for name, value in wanted.items() if clean_text(row.get(name)) != value}


# -- standing ------------------------------------------------------------------------------------
def should_hold(customer: Mapping[str, Any] | None, subscriptions: Sequence[Mapping[str, Any]]) -> bool:
    """True while Stripe considers the customer behind on payments."""
    if customer and customer.get("delinquent"):
        return True
    return any(sub.get("status") in DELINQUENT_STATUSES for sub in subscriptions)


def subscription_line(subscriptions: Sequence[Mapping[str, Any]]) -> str:
    """``Stripe subscriptions: sub_1 active, sub_2 canceled`` (newest first, at most ten), or ``""``."""
    listed = sorted(subscriptions, key=lambda sub: sub.get("created") or 0, reverse=True)
    parts = [f"{sub['id']} {sub.get('status')}" for sub in listed[:COMMENT_MAX_SUBSCRIPTIONS]]
    more = len(listed) - COMMENT_MAX_SUBSCRIPTIONS
    if more > 0:
        parts.append(f"and {more} more")
    return f"{COMMENT_PREFIX} {', '.join(parts)}" if parts else ""


def merged_comment(comment: str | None, line: str) -> str:
    """The comment with its ``Stripe subscriptions:`` line replaced (added, or removed when blank)."""
    kept = [text for text in (comment or "").splitlines() if not text.startswith(COMMENT_PREFIX)]
    return "\n".join(kept + ([line] if line else [])).strip("\n")


def standing_changes(row: Mapping[str, Any], hold: bool, hold_is_ours: bool, line: str) -> dict[str, Any]:
    """``CreditHold`` / ``Comment`` values to PATCH onto the Epicor customer (empty when in step)."""
    changes: dict[str, Any] = {}
    if hold and not row.get("CreditHold"):
        changes["CreditHold"] = True
    elif not hold and row.get("CreditHold") and hold_is_ours:
        changes["CreditHold"] = False
    comment = merged_comment(row.get("Comment"), line)
    if comment != (row.get("Comment") or "") and (line or COMMENT_PREFIX in (row.get("Comment") or "")):
        changes["Comment"] = comment
    return changes
