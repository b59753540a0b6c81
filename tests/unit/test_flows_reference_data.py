"""Reference data at run time: the catch-all customer is found or created by CustID, Epicor's refusals of
a reference code become the accountant's errors, and locks are taken per payment, not per customer."""

from __future__ import annotations

import json
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import fakeredis
import pytest
import requests

from tasks import store
from tasks.connectors.epicor import AlreadyExists, EpicorError, classify_response
from tasks.epicor import posting as sale_docs
from tasks.epicor.adjustments import lock_name
from tasks.errors import PermanentError
from tasks.mapping.order_to_cash import catch_all_customer, customer_section
from tasks.mapping.reference import MissingReference
from tasks.mapping.tables import load_mappings
from tests.fixtures import MAPPINGS_DIR


def refusal(field: str, message: str, status: int = 400) -> EpicorError:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({
        "HttpStatus": status, "ReasonPhrase": "REST API Exception", "ErrorMessage": message,
        "ErrorType": "Ice.BLException",
        "ErrorDetails": [{"Message": message, "Type": "Error", "Table": "Customer", "Field": field}]}).encode()
    error = classify_response(response)
    assert isinstance(error, EpicorError)
    return error


class FakeCustomers:
    """Epicor's Customers set: found by any field, created with a unique CustID (409 otherwise)."""

    def __init__(self, *rows: dict[str, Any], refuse: EpicorError | None = None):
        self.rows, self.refuse, self.created = list(rows), refuse, []

    def find_one(self, service, entity_set, **fields):
        return next((row for row in self.rows if all(row.get(k) == v for k, v in fields.items())), None)

    def create(self, service, entity_set, row):
        if self.refuse:
            raise self.refuse
        if self.find_one(service, entity_set, CustID=row["CustID"]):
            raise AlreadyExists("dup", status=409)
        created = {**row, "CustNum": 201 + len(self.rows)}
        self.rows.append(created)
        self.created.append(created)
        return created


@pytest.fixture(autouse=True)
def fake_redis(monkeypatch):
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)


@pytest.fixture()
def taken_locks(monkeypatch) -> list[str]:
    names: list[str] = []
    real = store.locked

    @contextmanager
    def recording(name: str, **kwargs: Any):
        names.append(name)
        with real(name, **kwargs):
            yield

    monkeypatch.setattr(store, "locked", recording)
    return names


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(MAPPINGS_DIR)


def guest_payment(payment_key: str) -> dict[str, Any]:
    return {"payment_key": payment_key, "charge": {"id": payment_key.replace("pi_", "ch_"), "metadata": {},
                                                   "billing_details": {}}}


def test_the_catch_all_is_created_once_when_epicor_has_none(mappings, taken_locks):
    epicor = FakeCustomers()
    ctx = SimpleNamespace(epicor=epicor, mappings=mappings)
    first = sale_docs.resolve_customer(ctx, catch_all_customer(mappings, "USD"))
    store.forget_local_cache()
    second = sale_docs.resolve_customer(ctx, catch_all_customer(mappings, "USD"))
    assert first == second and [row["CustID"] for row in epicor.created] == ["STRIPEGUES"]
    assert taken_locks == ["customer-create:STRIPEGUES"]


def test_an_existing_catch_all_is_used_without_any_lock(mappings, taken_locks):
    epicor = FakeCustomers({"CustID": "STRIPEGUES", "CustNum": 250})
    ctx = SimpleNamespace(epicor=epicor, mappings=mappings)
    assert sale_docs.resolve_customer(ctx, catch_all_customer(mappings, "USD")) == 250
    assert epicor.created == [] and taken_locks == []


def test_only_a_customer_named_in_metadata_is_said_to_be_named_in_metadata(mappings):
    payment = {"payment_key": "pi_1", "charge": {"id": "ch_1", "metadata": {"epicor_cust_id": "NOSUCH"},
                                                 "billing_details": {}}}
    ctx = SimpleNamespace(epicor=FakeCustomers(), mappings=mappings)
    with pytest.raises(PermanentError, match="NOSUCH' named in the Stripe metadata") as raised:
        sale_docs.resolve_customer(ctx, customer_section(payment, mappings, "USD"))
    assert raised.value.reason == "mapping.unknown_customer"


def test_terms_refused_on_creating_the_catch_all_name_the_mapping_key_and_screen(mappings):
    epicor = FakeCustomers(refuse=refusal("TermsCode", "Terms code N30 is not valid."))
    ctx = SimpleNamespace(epicor=epicor, mappings=mappings)
    with pytest.raises(MissingReference) as raised:
        sale_docs.resolve_customer(ctx, catch_all_customer(mappings, "USD"))
    assert raised.value.reason == "reference.missing_terms"
    message = raised.value.message
    assert "Terms Maintenance" in message and "mappings/defaults.yaml key terms_code" in message


def test_another_refusal_of_the_catch_all_names_customer_maintenance_and_its_key(mappings):
    ctx = SimpleNamespace(epicor=FakeCustomers(refuse=refusal("Name", "Name is required.")), mappings=mappings)
    with pytest.raises(MissingReference) as raised:
        sale_docs.resolve_customer(ctx, catch_all_customer(mappings, "USD"))
    assert raised.value.reason == "reference.refused_catch_all_customer"
    assert "Customer Maintenance" in raised.value.message and "catch_all_cust_id" in raised.value.message


def test_a_bank_account_refused_while_posting_is_explained(mappings):
    documents = {"currency": "USD", "customer": catch_all_customer(mappings, "USD"),
                 "order": {"lines": [{"PartNum": "STRIPE-SALE", "SalesUM": "EA"}]},
                 "invoice": {"header": {}, "lines": []}, "cash_group": {"BankAcctID": "MAIN"},
                 "receipt": {"header": {"BankAcctID": "MAIN"}}, "parts": ["STRIPE-SALE"]}
    ctx = SimpleNamespace(epicor=None, mappings=mappings)
    with pytest.raises(MissingReference) as raised, sale_docs.reference_refusals(ctx, documents):
        raise refusal("BankAcctID", "Bank account MAIN is not valid.")
    assert raised.value.reason == "reference.missing_bank_account"
    assert "Bank Account Maintenance" in raised.value.message and "key bank_account" in raised.value.message
    with pytest.raises(EpicorError, match="Amount"), sale_docs.reference_refusals(ctx, documents):
        raise refusal("DocTranAmt", "Amount")


def test_guests_of_the_catch_all_take_their_payment_lock_not_one_customer_lock(mappings):
    customers = [customer_section(guest_payment(key), mappings, "USD") for key in ("pi_1", "pi_2")]
    assert customers[0]["match"] == customers[1]["match"]
    assert {sale_docs.payment_lock_name(key) for key in ("pi_1", "pi_2")} == {"payment:pi_1", "payment:pi_2"}
    summary = {"id": "ch_1", "payment_key": "pi_1", "customer": "cus_9", "guest_email": None}
    assert lock_name(summary) == "payment:pi_1"
