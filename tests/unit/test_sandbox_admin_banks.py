"""The sandbox's ``POST /_sandbox/epicor/banks``: a site's own bank account (a clearing bank per
currency, payouts.yaml ``banks``), then served read-only by ``BankAccts`` like the seeded ones."""

from __future__ import annotations

import base64

import pytest
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint

HEADERS = {"Authorization": "Basic " + base64.b64encode(b"manager:manager").decode(), "x-api-key": "sandbox-api-key"}
BANKS = "/KineticSandbox/api/v2/odata/EPIC06/Erp.BO.BankAcctSvc/BankAccts"


@pytest.fixture
def client():
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(EpicorState(":memory:")))
    return app.test_client()


def test_an_added_bank_is_served_open_in_its_currency(client):
    added = client.post("/_sandbox/epicor/banks", json={"BankAcctID": "STREUR", "CurrencyCode": "EUR",
                                                        "Description": "Stripe clearing EUR"})
    assert added.status_code == 201, added.get_json()
    row = client.get(f"{BANKS}('EPIC06','STREUR')", headers=HEADERS).get_json()
    assert (row["CurrencyCode"], row["Closed"], row["Company"]) == ("EUR", False, "EPIC06")


def test_a_bank_added_twice_is_a_409_and_a_blank_id_a_400(client):
    assert client.post("/_sandbox/epicor/banks", json={"BankAcctID": "STRJPY"}).status_code == 201
    assert client.post("/_sandbox/epicor/banks", json={"BankAcctID": "STRJPY"}).status_code == 409
    assert client.post("/_sandbox/epicor/banks", json={"BankAcctID": " "}).status_code == 400
    assert client.post("/_sandbox/epicor/banks", json={"BankAcctID": "MAIN"}).status_code == 409


def test_cash_groups_and_receipts_take_any_open_bank_of_bankaccts(client):
    groups = "/KineticSandbox/api/v2/odata/EPIC06/Erp.BO.CashGrpSvc/CashGrps"
    assert client.post(groups, headers=HEADERS, json={"GroupID": "CE260304", "BankAcctID": "STREUR"}).status_code == 400
    added = client.post("/_sandbox/epicor/banks", json={"BankAcctID": "STREUR", "CurrencyCode": "EUR"})
    assert added.status_code == 201
    made = client.post(groups, headers=HEADERS, json={"GroupID": "CE260304", "BankAcctID": "STREUR"})
    assert made.status_code == 201 and made.get_json()["BankAcctID"] == "STREUR"
    closed = client.post(groups, headers=HEADERS, json={"GroupID": "CR260304", "BankAcctID": "RETIRED"})
    assert closed.status_code == 400 and closed.get_json()["ErrorDetails"][0]["Field"] == "BankAcctID"
