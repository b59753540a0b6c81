"""Loop safety between Stripe and Epicor customers: what the integration last made each side say.

Both directions sync customers, and each write the integration makes comes back as an event from
the other system (our Stripe update → ``customer.updated``; our ``ExternalID`` write-back or field
update in Epicor → ``Customer.Updated`` from the site's BPM). Without a guard the two would echo
each other forever. Policy:

- After every sync the flow records a fingerprint of the shared customer values (name, e-mail,
  phone, address; never ids, ``SysRevID`` or metadata) for *both* records, the Epicor one under
  company + ``CustNum`` and the Stripe one under its ``cus_`` id.
- An incoming event whose freshly fetched record has the fingerprint we recorded is our own echo
  (or a change of fields we do not sync, such as ``ExternalID``): it is acknowledged as ``ignored``
  and nothing is written. A person's real change alters the fingerprint and goes through.
- If these marks are lost (Redis wiped), the flows still converge: each compares the values it would
  write with the other record as it is now and writes only a difference, so an echo costs one read.

Keys: ``sec:sync:epicor-customer:<company>:<CustNum>`` (hash: ``fingerprint``, ``stripe_id``) and
``sec:sync:stripe-customer:<cus_id>`` (hash: ``fingerprint``, ``epicor_cust_num``). They live for a
year after the last sync; an expired mark only costs the comparison above.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from tasks import store
from tasks.mapping.epicor_to_stripe import (
    epicor_customer_fingerprint,
    stripe_customer_fingerprint,
)

MARK_TTL = 60 * 60 * 24 * 366


def _epicor_key(company: str, cust_num: int | str) -> str:
    return store.key("sync", "epicor-customer", company, str(int(cust_num)))


def _stripe_key(customer_id: str) -> str:
    return store.key("sync", "stripe-customer", customer_id)


def _write(name: str, **fields: str) -> None:
    pipe = store.client().pipeline()
    # Copied so the dict takes redis-py's key type (its Mapping key is invariant, so dict[str, str] is refused).
    pipe.hset(name, mapping={field: value for field, value in fields.items()})
    pipe.expire(name, MARK_TTL)
    pipe.execute()


def remember_epicor_customer(company: str, row: Mapping[str, Any], stripe_id: str | None = None) -> None:
    """Record the Epicor customer's shared values as in step with Stripe (``row`` needs ``CustNum``)."""
    fields = {"fingerprint": epicor_customer_fingerprint(row)}
    if stripe_id:
        fields["stripe_id"] = stripe_id
    _write(_epicor_key(company, row["CustNum"]), **fields)


def epicor_customer_in_sync(company: str, row: Mapping[str, Any]) -> bool:
    """True when the Epicor customer still says what the last sync left it saying."""
    recorded = store.client().hget(_epicor_key(company, row["CustNum"]), "fingerprint")
    return recorded is not None and recorded == epicor_customer_fingerprint(row)


def linked_stripe_id(company: str, cust_num: int | str) -> str | None:
    """The Stripe customer the integration created or matched for this Epicor customer, if recorded."""
    return cast("str | None", store.client().hget(_epicor_key(company, cust_num), "stripe_id"))  # decoded reply


def remember_stripe_customer(customer: Mapping[str, Any], cust_num: int | str | None = None) -> None:
    """Record the Stripe customer's shared values as in step with Epicor."""
    fields = {"fingerprint": stripe_customer_fingerprint(customer)}
    if cust_num is not None:
        fields["epicor_cust_num"] = str(int(cust_num))
    _write(_stripe_key(customer["id"]), **fields)


def stripe_customer_in_sync(customer: Mapping[str, Any]) -> bool:
    """True when the Stripe customer still says what the last sync left it saying (our own echo)."""
    recorded = store.client().hget(_stripe_key(customer["id"]), "fingerprint")
    return recorded is not None and recorded == stripe_customer_fingerprint(customer)
