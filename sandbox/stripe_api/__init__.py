"""A stateful emulator of the part of the Stripe API the connector uses, as a Flask blueprint.

It serves customers, charges, PaymentIntents, Checkout Sessions and their line items, products,
prices, balance transactions and events under `/v1`, in the shapes real Stripe returns for the
request's API version, with Stripe's auth, form encoding, pagination, expansion, errors and
idempotency. Admin routes under `/_sandbox/stripe` create consistent payments and their events.
Billing (invoices, invoice items and payments, subscriptions, payouts) is in `billing_routes.py`;
`invoices.py` documents the invoice API other flows create invoices through.
"""

from sandbox.stripe_api.blueprint import make_stripe_blueprint
from sandbox.stripe_api.state import StripeState

__all__ = ["StripeState", "make_stripe_blueprint"]
