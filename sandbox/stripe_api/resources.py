"""The Stripe resources the sandbox serves: their routes, filters and which fields a POST may change.

An unknown parameter is rejected with 400, as Stripe does, so a connector sending a misspelt field
fails here instead of silently in production.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One REST collection under `/v1`."""

    path: str
    object_type: str
    filters: tuple[str, ...] = ("created",)
    creatable: bool = False
    updatable: tuple[str, ...] = ()
    create_fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The name Stripe uses in `No such <label>: 'id'`."""
        return self.object_type


_CUSTOMER_FIELDS = ("address", "description", "email", "metadata", "name", "phone", "shipping",
                    "preferred_locales", "tax_exempt")
_PAYMENT_FIELDS = ("amount", "currency", "customer", "description", "metadata", "receipt_email",
                   "payment_method", "payment_method_types", "confirm", "source", "capture",
                   "automatic_payment_methods", "return_url", "statement_descriptor", "shipping")

RESOURCES: tuple[Resource, ...] = (
    Resource("customers", "customer", ("email", "created"), creatable=True,
             updatable=_CUSTOMER_FIELDS, create_fields=_CUSTOMER_FIELDS),
    Resource("charges", "charge", ("customer", "payment_intent", "created"), creatable=True,
             updatable=("description", "metadata", "receipt_email", "shipping", "fraud_details",
                        "transfer_group"),
             create_fields=_PAYMENT_FIELDS),
    Resource("payment_intents", "payment_intent", ("customer", "created"), creatable=True,
             updatable=("description", "metadata", "receipt_email", "shipping",
                        "statement_descriptor"),
             create_fields=_PAYMENT_FIELDS),
    Resource("checkout/sessions", "checkout.session",
             ("payment_intent", "customer", "status", "created"), updatable=("metadata",)),
    Resource("products", "product", ("active", "created"), updatable=("metadata", "name", "description")),
    Resource("prices", "price", ("product", "currency", "type", "created"), updatable=("metadata",)),
    Resource("events", "event", ("type", "types", "created", "delivery_success")),
    Resource("balance_transactions", "balance_transaction", ("source", "type", "currency", "created", "payout")),
    Resource("subscriptions", "subscription", ("customer", "status", "created")),
    Resource("payouts", "payout", ("status", "currency", "created")),
    Resource("refunds", "refund", ("charge", "payment_intent", "created"), updatable=("metadata",)),
    Resource("disputes", "dispute", ("charge", "payment_intent", "created"), updatable=("metadata",)),
)
