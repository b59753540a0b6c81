"""Stripe webhook signatures, produced the way Stripe produces them.

Header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with one `v1` item per
secret (Stripe signs with both the old and the new secret during a rotation), plus a `v0` item of
random hex, as test mode sends, so receivers prove they ignore schemes other than `v1`.
The body is signed byte for byte: callers must send exactly the bytes they signed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
import time

SIGNATURE_HEADER = "Stripe-Signature"


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` keyed with the endpoint secret."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(
    body: bytes,
    secrets: list[str],
    timestamp: int | None = None,
    with_v0: bool = True,
) -> str:
    """Return a `Stripe-Signature` header value for `body`, one `v1` per secret."""
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign a payload")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    items = [f"t={ts}"]
    items += [f"v1={compute_signature(body, secret, ts)}" for secret in secrets]
    if with_v0:
        items.append(f"v0={_random.token_hex(32)}")
    return ",".join(items)


def split_secrets(value: str | None) -> list[str]:
    """Secrets from a comma-separated setting such as `STRIPE_WEBHOOK_SECRET`."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]
