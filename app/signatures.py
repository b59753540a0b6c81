"""Webhook signature checks on the raw body, for Stripe and for Epicor's BPM events.

Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…][,v0=…]``, HMAC-SHA256 of ``"<t>.<body>"`` with
the endpoint secret, checked by stripe-python against every configured secret (several during a
rotation). ``v0`` is never accepted. Timestamps older than the tolerance are refused, and so are
timestamps further ahead of this server's clock than the tolerance (stripe-python lets those pass:
a replay window that starts in the future is a longer one). The Epicor header (contract §7) has the
same form and is checked the same way.

The header is read before stripe-python sees it, because stripe-python trusts it: a header holding
a non-ASCII character made its ``hmac.compare_digest`` raise (a 500), ``int()`` took ``t=`` in any
script's digits and with underscores. So a header must be printable ASCII, at most
``MAX_HEADER_LENGTH`` characters, with a ``t=`` of decimal digits only; anything else is refused as
malformed (400), whatever bytes the sender put in it (a WSGI server hands raw header bytes over
decoded as latin-1).
"""

from __future__ import annotations

import re
import time

import stripe

# A header carries one t= and a v1= (71 characters) per secret the sender signs with; a few
# secrets during a rotation stay far below this.
MAX_HEADER_LENGTH = 4096
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # unix seconds, until the year 33658


class SignatureRejected(ValueError):
    """The request is not provably from the sender; the message says why (no secret material)."""


def verify(body: bytes, header: str | None, secrets: tuple[str, ...], tolerance: int) -> None:
    if not header:
        raise SignatureRejected("missing signature header")
    if not secrets:
        raise SignatureRejected("no webhook secret is configured on this server")
    timestamp = _timestamp(_readable(header))
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRejected("body is not UTF-8") from None
    reasons = []
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=tolerance)
        except stripe.SignatureVerificationError as exc:
            reasons.append(_reason(str(exc)))
            continue
        if tolerance and timestamp > time.time() + tolerance:
            raise SignatureRejected("timestamp outside the tolerance zone (ahead of this server's clock)")
        return
    raise SignatureRejected(_most_specific(reasons))


def _readable(header: str) -> str:
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureRejected("malformed signature header (too long)")
    if not (header.isascii() and header.isprintable()):
        raise SignatureRejected("malformed signature header (characters other than printable ASCII)")
    return header


def _timestamp(header: str) -> int:
    """The header's first ``t=``, the one stripe-python reads, which must be decimal digits."""
    for item in header.split(","):
        parts = item.split("=", 2)
        if parts[0] == "t" and len(parts) > 1:
            if not _TIMESTAMP.fullmatch(parts[1]):
                break
            return int(parts[1])
    raise SignatureRejected("malformed signature header")


def _reason(message: str) -> str:
    if "Timestamp outside the tolerance zone" in message:
        return "timestamp outside the tolerance zone (stale or replayed request)"
    if "Unable to extract timestamp" in message:
        return "malformed signature header"
    if "expected scheme" in message:
        return "no v1 signature in the header"
    return "signature does not match the payload"


def _most_specific(reasons: list[str]) -> str:
    """A stale-but-valid signature is reported as stale rather than as a mismatch."""
    for reason in reasons:
        if reason.startswith("timestamp"):
            return reason
    return reasons[0]
