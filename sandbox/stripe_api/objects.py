"""Builders of Stripe objects in the shape of the API version stripe-python 16 pins (2026-10-28.endive).

Field sets follow Stripe's own example objects (openapi `fixtures3.json`) with the values a real,
successful card payment has: `captured: true`, `status: "succeeded"`, `amount_captured` equal to the
amount, a balance transaction with Stripe's fee. Card details are limited to what Stripe itself
returns (brand, last4, expiry, country, funding); no full card number exists anywhere. Keys that
start with `_` are the sandbox's own bookkeeping and are never rendered.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe_api.ids import new_id, random_alnum

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
SANDBOX_CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "country": "US"}


def address(value: dict[str, Any] | None) -> dict[str, Any]:
    """An address with all six Stripe fields, missing ones null."""
    value = value or {}
    return {field: value.get(field) or None for field in ADDRESS_FIELDS}


def billing_details(value: dict[str, Any] | None) -> dict[str, Any]:
    """`billing_details` of a charge: address, email, name, phone, tax_id."""
    value = value or {}
    return {
        "address": address(value.get("address")),
        "email": value.get("email"),
        "name": value.get("name"),
        "phone": value.get("phone"),
        "tax_id": None,
    }


def stripe_fee(amount: int) -> int:
    """Stripe's standard card fee, 2.9 % + 30 minor units."""
    return round(amount * 0.029) + 30


def customer(fields: dict[str, Any], now: int) -> dict[str, Any]:
    """A customer from create parameters (name, email, phone, address, description, metadata, shipping)."""
    return {
        "id": new_id("cus"),
        "object": "customer",
        "address": address(fields.get("address")) if fields.get("address") else None,
        "balance": 0,
        "created": now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": fields.get("description"),
        "discount": None,
        "email": fields.get("email"),
        "invoice_prefix": random_alnum(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(fields.get("metadata") or {}),
        "name": fields.get("name"),
        "next_invoice_sequence": 1,
        "phone": fields.get("phone"),
        "preferred_locales": [],
        "shipping": fields.get("shipping"),
        "tax_exempt": "none",
        "test_clock": None,
    }


def balance_transaction(charge_id: str, amount: int, currency: str, now: int) -> dict[str, Any]:
    """The balance transaction a succeeded charge creates, fee and net included."""
    fee = stripe_fee(amount)
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now + 2 * 86400,
        "balance_type": "payments",
        "created": now,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [{
            "amount": fee, "application": None, "currency": currency,
            "description": "Stripe processing fees", "type": "stripe_fee",
        }],
        "net": amount - fee,
        "reporting_category": "charge",
        "source": charge_id,
        "status": "pending",
        "type": "charge",
    }


def card_details() -> dict[str, Any]:
    """`payment_method_details` of a card payment: brand, last4, expiry, country, checks."""
    return {
        "card": {
            **SANDBOX_CARD,
            "amount_authorized": None,
            "authorization_code": None,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "funding": "credit",
            "network": "visa",
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


def charge(payment: dict[str, Any], now: int) -> dict[str, Any]:
    """A succeeded, captured card charge.

    `payment` holds amount, currency, customer (id or None), payment_intent (id or None),
    billing_details, metadata, description, receipt_email, balance_transaction (id).
    """
    charge_id = new_id("ch")
    payment_method = new_id("pm")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": payment["amount"],
        "amount_captured": payment["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": payment.get("balance_transaction"),
        "billing_details": billing_details(payment.get("billing_details")),
        "calculated_statement_descriptor": "SANDBOX",
        "captured": True,
        "created": now,
        "currency": payment["currency"],
        "customer": payment.get("customer"),
        "description": payment.get("description"),
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(payment.get("metadata") or {}),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
            "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment.get("payment_intent"),
        "payment_method": payment_method,
        "payment_method_details": card_details(),
        "radar_options": {},
        "receipt_email": payment.get("receipt_email"),
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/sandbox_{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_intent(payment: dict[str, Any], now: int) -> dict[str, Any]:
    """A PaymentIntent; `status` and `latest_charge` are set by the caller once a charge exists."""
    intent_id = new_id("pi")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": payment["amount"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{random_alnum(25)}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": payment["currency"],
        "customer": payment.get("customer"),
        "customer_account": None,
        "description": payment.get("description"),
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": dict(payment.get("metadata") or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None,
                                            "network": None, "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": payment.get("receipt_email"),
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def mark_intent_succeeded(intent: dict[str, Any], succeeded_charge: dict[str, Any]) -> dict[str, Any]:
    """Move a PaymentIntent to `succeeded` with this charge as its latest charge."""
    intent.update({
        "status": "succeeded",
        "amount_received": succeeded_charge["amount"],
        "latest_charge": succeeded_charge["id"],
        "payment_method": succeeded_charge["payment_method"],
    })
    return intent


def product(name: str, metadata: dict[str, Any] | None, now: int) -> dict[str, Any]:
    """A product; `default_price` is set when its first price is made."""
    return {
        "id": new_id("prod"),
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": dict(metadata or {}),
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }


def price(product_id: str, unit_amount: int, currency: str, now: int) -> dict[str, Any]:
    """A one-time, per-unit price."""
    return {
        "id": new_id("price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def line_item(item_price: dict[str, Any], description: str, quantity: int, now: int) -> dict[str, Any]:
    """A Checkout line item (`object: "item"`); Stripe always includes its full price."""
    subtotal = item_price["unit_amount"] * quantity
    return {
        "id": new_id("li"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": subtotal,
        "amount_tax": 0,
        "amount_total": subtotal,
        "created": now,
        "currency": item_price["currency"],
        "description": description,
        "metadata": {},
        "price": item_price,
        "quantity": quantity,
    }


def checkout_session(payment: dict[str, Any], line_item_ids: list[str], now: int) -> dict[str, Any]:
    """A completed, paid Checkout Session in payment mode.

    `payment` holds amount, currency, customer, payment_intent, billing_details, metadata.
    """
    details = payment.get("billing_details") or {}
    return {
        "id": new_id("cs"),
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": payment["amount"],
        "amount_total": payment["amount"],
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "https://example.com/cancel",
        "client_reference_id": None,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": payment["currency"],
        "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": payment.get("customer"),
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": {
            "address": address(details.get("address")),
            "business_name": None,
            "email": details.get("email"),
            "individual_name": None,
            "name": details.get("name"),
            "phone": details.get("phone"),
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": None,
        "discounts": [],
        "expires_at": now + 86400,
        "invoice": None,
        "invoice_creation": {"enabled": False, "invoice_data": {
            "account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
            "issuer": None, "metadata": {}, "rendering_options": None}},
        "livemode": False,
        "locale": None,
        "metadata": dict(payment.get("metadata") or {}),
        "mode": "payment",
        "origin_context": None,
        "payment_intent": payment.get("payment_intent"),
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "complete",
        "submit_type": None,
        "subscription": None,
        "success_url": "https://example.com/success",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,
        "wallet_options": None,
        "_line_item_ids": line_item_ids,
    }


def event(event_type: str, rendered_object: dict[str, Any], api_version: str, now: int,
          request: dict[str, Any] | None = None,
          previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A v1 snapshot event around an object already rendered for `api_version`."""
    data: dict[str, Any] = {"object": rendered_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": now,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": request or {"id": None, "idempotency_key": None},
        "type": event_type,
        "_deliveries": [],
    }
