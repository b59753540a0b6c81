"""Stripe-looking identifiers: a type prefix and 24 random alphanumerics.

Checkout Session ids follow Stripe's longer `cs_test_a1...` form. Ids are random, never sequential,
so code under test cannot come to rely on their order.
"""

from __future__ import annotations

import secrets
import string
import uuid

_ALPHABET = string.ascii_letters + string.digits


def random_alnum(length: int) -> str:
    """`length` random letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    """A new id such as `ch_3Qx...` (prefix without the underscore)."""
    if prefix == "cs":
        return "cs_test_a1" + random_alnum(56)
    return f"{prefix}_{random_alnum(24)}"


def new_request_id() -> str:
    """A Stripe request id (`req_` + 14 characters), sent as the `Request-Id` header."""
    return "req_" + random_alnum(14)


def new_idempotency_key() -> str:
    """An idempotency key in the UUID form stripe-python generates."""
    return str(uuid.uuid4())
