"""Routes of the billing part of the Stripe sandbox: invoices, invoice items, invoice payments, and the
admin scenarios for invoices, subscriptions and payouts (see `invoices.py`, `subscriptions.py`,
`payouts.py` for what each does). Subscriptions and payouts are read through the generic resource
routes (`resources.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from sandbox.stripe_api import errors, queries
from sandbox.stripe_api.api import json_response, serve
from sandbox.stripe_api.invoices import InvoiceBook, admin_pay, listing_of
from sandbox.stripe_api.payouts import create_fee, create_payout, fail_payout
from sandbox.stripe_api.service import StripeAccount
from sandbox.stripe_api.state import StripeState
from sandbox.stripe_api.subscriptions import SubscriptionDesk
from sandbox.stripe_api.versions import render

ADMIN = "/_sandbox/stripe"


def add_billing_routes(blueprint: Blueprint, state: StripeState, account: StripeAccount) -> None:
    """Register the billing API and admin routes on the Stripe blueprint."""
    book = InvoiceBook(account)
    _add_invoice_routes(blueprint, state, book)
    _add_item_and_payment_routes(blueprint, state, book)
    _add_admin_routes(blueprint, book)


def _add_invoice_routes(blueprint: Blueprint, state: StripeState, book: InvoiceBook) -> None:
    def shown(stored: dict[str, Any], params: dict[str, Any], version: str) -> dict[str, Any]:
        return book.rendered(stored, version, queries.expand_paths(params))

    def invoices() -> Response:
        if request.method == "POST":
            return serve(state, lambda p, v: shown(book.create_invoice(p), p, v))
        return serve(state, book.list_invoices)

    def invoice(invoice_id: str) -> Response:
        if request.method == "POST":
            return serve(state, lambda p, v: shown(book.update(invoice_id, p), p, v))
        return serve(state, lambda p, v: shown(book.retrieve(invoice_id), p, v))

    def action(invoice_id: str, name: str) -> Response:
        def run(params: dict[str, Any], version: str) -> dict[str, Any]:
            if name == "finalize":
                return shown(book.finalize(invoice_id), params, version)
            if name == "send":
                return shown(book.send(invoice_id), params, version)
            paid = book.pay(invoice_id, {key: params.get(key) for key in ("paid_out_of_band",)})
            return shown(book.retrieve(paid["invoice"]["id"]), params, version)
        return serve(state, run)

    blueprint.add_url_rule("/v1/invoices", "billing_invoices", invoices, methods=["GET", "POST"])
    blueprint.add_url_rule("/v1/invoices/<invoice_id>", "billing_invoice", invoice, methods=["GET", "POST"])
    blueprint.add_url_rule("/v1/invoices/<invoice_id>/lines", "billing_invoice_lines",
                           lambda invoice_id: serve(state, lambda p, v: book.list_lines(invoice_id, p, v)))
    for name in ("finalize", "send", "pay"):
        blueprint.add_url_rule(f"/v1/invoices/<invoice_id>/{name}", f"billing_invoice_{name}",
                               lambda invoice_id, name=name: action(invoice_id, name), methods=["POST"])


def _add_item_and_payment_routes(blueprint: Blueprint, state: StripeState, book: InvoiceBook) -> None:
    def one(object_type: str, object_id: str, version: str) -> dict[str, Any]:
        stored = state.get(object_id, object_type)
        if stored is None:
            raise errors.resource_missing(object_type, object_id)
        return render(stored, version, state.get)

    def items() -> Response:
        if request.method == "POST":
            return serve(state, lambda p, v: render(book.add_item(p), v, state.get))
        return serve(state, lambda p, v: _simple_list(state, "invoiceitem", ("customer", "invoice", "created"),
                                                        p, v, "/v1/invoiceitems"))

    blueprint.add_url_rule("/v1/invoiceitems", "billing_invoiceitems", items, methods=["GET", "POST"])
    blueprint.add_url_rule("/v1/invoiceitems/<item_id>", "billing_invoiceitem",
                           lambda item_id: serve(state, lambda p, v: one("invoiceitem", item_id, v)))
    blueprint.add_url_rule("/v1/invoice_payments", "billing_invoice_payments",
                           lambda: serve(state, book.list_payments))
    blueprint.add_url_rule("/v1/invoice_payments/<payment_id>", "billing_invoice_payment",
                           lambda payment_id: serve(state, lambda p, v: one("invoice_payment", payment_id, v)))


def _simple_list(state: StripeState, object_type: str, filters: tuple[str, ...], params: dict[str, Any],
                 version: str, url: str) -> dict[str, Any]:
    matching = queries.matching(state, object_type, params, filters)
    return listing_of(queries.page(matching, params, url), state, version)


def _add_admin_routes(blueprint: Blueprint, book: InvoiceBook) -> None:
    desk = SubscriptionDesk(book)
    admin: dict[str, Callable[..., dict[str, Any]]] = {
        "invoices/<object_id>/pay": lambda object_id, body: admin_pay(book, object_id, body),
        "subscriptions": lambda body: desk.start(body),
        "subscriptions/<object_id>/update": lambda object_id, body: desk.update(object_id, body),
        "subscriptions/<object_id>/renew": lambda object_id, body: desk.renew(object_id, body),
        "subscriptions/<object_id>/cancel": lambda object_id, body: desk.cancel(object_id, body),
        "payouts": lambda body: create_payout(book.account, body),
        "payouts/<object_id>/fail": lambda object_id, body: fail_payout(book.account, object_id, body),
        "fees": lambda body: create_fee(book.account, body),
    }
    for path, scenario in admin.items():
        blueprint.add_url_rule(f"{ADMIN}/{path}", "billing_admin_" + path.replace("/", "_").replace("<", "")
                               .replace(">", ""), _admin_view(scenario), methods=["POST"])


def _admin_view(scenario: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
    def view(**path_args: str) -> Response:
        try:
            return json_response(scenario(*path_args.values(), request.get_json(force=True, silent=True) or {}))
        except errors.StripeApiError as failure:
            return json_response(failure.body(), failure.status)
    return view
