"""The Epicor emulator behaves as the REST contract says: auth, strict bodies, OData queries, the §5
business rules, error bodies, persistence, fault switches and the admin endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time

import pytest
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint

V2 = "/KineticSandbox/api/v2/odata/EPIC06"
V1 = "/KineticSandbox/api/v1"
SERVICES = {
    "Customers": "Erp.BO.CustomerSvc", "Parts": "Erp.BO.PartSvc",
    "SalesOrders": "Erp.BO.SalesOrderSvc", "OrderDtls": "Erp.BO.SalesOrderSvc",
    "InvcGrps": "Erp.BO.InvcGrpSvc", "ARInvoices": "Erp.BO.ARInvoiceSvc",
    "InvcDtls": "Erp.BO.ARInvoiceSvc", "CashGrps": "Erp.BO.CashGrpSvc",
    "CashRecs": "Erp.BO.CashRecSvc", "CashDtls": "Erp.BO.CashRecSvc", "Reasons": "Erp.BO.ReasonSvc",
}
BASIC = "Basic " + base64.b64encode(b"manager:manager").decode()
HEADERS = {"Authorization": BASIC, "x-api-key": "sandbox-api-key"}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def make_client(state: EpicorState):
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(state))
    return app.test_client()


@pytest.fixture
def state() -> EpicorState:
    return EpicorState(":memory:")


@pytest.fixture
def client(state):
    return make_client(state)


def url(resource: str) -> str:
    name = re.match(r"\w+", resource).group()
    return f"{V2}/{SERVICES[name]}/{resource}"


def get(client, resource, **kwargs):
    return client.get(url(resource), headers=HEADERS, **kwargs)


def post(client, resource, body):
    return client.post(url(resource), headers=HEADERS, json=body)


def patch(client, resource, body):
    return client.patch(url(resource), headers=HEADERS, json=body)


def created(client, resource, body) -> dict:
    response = post(client, resource, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_error(response, status: int, error_type: str, field: str | None = None) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "ErrorDetails",
                         "CorrelationId"}
    assert body["HttpStatus"] == status
    assert body["ReasonPhrase"] == "REST API Exception"
    assert body["ErrorType"] == error_type
    assert GUID.match(body["CorrelationId"])
    assert isinstance(body["ErrorDetails"], list)
    if field is not None:
        assert body["ErrorDetails"][0]["Field"] == field
    return body


def customer(client, cust_id="ACME", **fields) -> dict:
    return created(client, "Customers", {"CustID": cust_id, "Name": f"{cust_id} Ltd", **fields})


def order_with_lines(client, cust_num, lines, **fields) -> dict:
    order = created(client, "SalesOrders", {"CustNum": cust_num, **fields})
    for part, qty, price in lines:
        created(client, "OrderDtls", {"OrderNum": order["OrderNum"], "PartNum": part,
                                      "LineDesc": part, "SellingQuantity": qty,
                                      "DocUnitPrice": price, "SalesUM": "EA"})
    return get(client, f"SalesOrders('EPIC06',{order['OrderNum']})").get_json()


def invoice_group(client, group_id="IN260304") -> dict:
    return created(client, "InvcGrps", {"GroupID": group_id, "InvoiceDate": "2026-03-04T00:00:00"})


def cash_group(client, group_id="SC260304") -> dict:
    return created(client, "CashGrps", {"GroupID": group_id, "TranDate": "2026-03-04T00:00:00",
                                        "BankAcctID": "MAIN"})


def invoice(client, cust_num, lines, group_id="IN260304", **fields) -> dict:
    head = created(client, "ARInvoices", {"GroupID": group_id, "InvoiceType": "Mis",
                                          "CustNum": cust_num, **fields})
    for qty, price in lines:
        created(client, "InvcDtls", {"InvoiceNum": head["InvoiceNum"], "PartNum": "STRIPE-SALE",
                                     "LineDesc": "Sale", "SellingShipQty": qty,
                                     "DocUnitPrice": price})
    return get(client, f"ARInvoices('EPIC06',{head['InvoiceNum']})").get_json()


def receipt(client, cust_num, amount, group_id="SC260304", **fields) -> dict:
    return created(client, "CashRecs", {"GroupID": group_id, "TranType": "PayInv",
                                        "CustNum": cust_num, "DocTranAmt": amount, **fields})


def apply_cash(client, head, invoice_num, amount):
    return post(client, "CashDtls", {"GroupID": head["GroupID"], "HeadNum": head["HeadNum"],
                                     "InvoiceNum": invoice_num, "InvoiceRef": 0,
                                     "DocTranAmt": amount})


# --- transport -----------------------------------------------------------------------------------

def test_v2_without_api_key_is_401(client):
    response = client.get(url("Parts"), headers={"Authorization": BASIC})
    assert_error(response, 401, "Epicor.RESTApi.ErrorHandling.ApiException")


def test_wrong_password_is_401(client):
    bad = "Basic " + base64.b64encode(b"manager:wrong").decode()
    response = client.get(url("Parts"), headers={"Authorization": bad, "x-api-key": "sandbox-api-key"})
    assert_error(response, 401, "Epicor.RESTApi.ErrorHandling.ApiException")


def test_post_without_json_content_type_is_415(client):
    response = client.post(url("Customers"), headers=HEADERS, data='{"CustID":"A","Name":"A"}')
    assert_error(response, 415, "Epicor.RESTApi.ErrorHandling.ApiException")
    assert get(client, "Customers").get_json()["value"] == []


def test_unknown_field_is_400_naming_the_field(client):
    response = post(client, "Customers", {"CustID": "ACME", "Name": "Acme", "EmailAddress": "x@y"})
    body = assert_error(response, 400, "Epicor.RESTApi.ErrorHandling.ApiException", "EmailAddress")
    assert body["ErrorMessage"].startswith("Unable to deserialize entity")
    assert "EmailAddress" in body["ErrorMessage"]
    assert body["ErrorDetails"][0]["Table"] == "Customer"


def test_the_sites_user_defined_columns_are_ordinary_columns_and_no_other_c_name_is(client):
    made = created(client, "Customers", {"CustID": "UDC", "Name": "UD", "StripeCustomerID_c": "cus_123"})
    assert get(client, f"Customers('EPIC06',{made['CustNum']})").get_json()["StripeCustomerID_c"] == "cus_123"
    found = get(client, "Customers?$filter=StripeCustomerID_c eq 'cus_123'").get_json()["value"]
    assert [row["CustID"] for row in found] == ["UDC"]
    refused = post(client, "Customers", {"CustID": "UDD", "Name": "UD", "Nickname_c": "x"})
    assert_error(refused, 400, "Epicor.RESTApi.ErrorHandling.ApiException", "Nickname_c")


@pytest.mark.parametrize("field, value", [("CustNum", "201"), ("CustID", 12), ("CreditHold", "no"),
                                          ("CreditLimit", "10.00"), ("EstDate", "yesterday")])
def test_wrong_json_type_is_400(client, field, value):
    body = {"CustID": "ACME", "Name": "Acme", field: value}
    assert_error(post(client, "Customers", body), 400,
                 "Epicor.RESTApi.ErrorHandling.ApiException", field)


def test_unknown_route_and_verb_answer_json(client):
    assert_error(client.get("/KineticSandbox/nowhere", headers=HEADERS), 404,
                 "Epicor.RESTApi.ErrorHandling.ApiException")
    assert_error(client.delete(url("Parts('EPIC06','WIDGET-100')"), headers=HEADERS), 405,
                 "Epicor.RESTApi.ErrorHandling.ApiException")
    assert_error(post(client, "Parts", {"PartNum": "NEW"}), 405,
                 "Epicor.RESTApi.ErrorHandling.ApiException")
    assert_error(get(client, "Customers/Nope"), 400, "Microsoft.OData.ODataException")
    assert_error(client.get(f"{V2}/Erp.BO.CustomerSvc/GetByID", headers=HEADERS), 404,
                 "Epicor.RESTApi.ErrorHandling.ApiException")


def test_v1_routing_with_call_settings(client):
    headers = {"Authorization": BASIC, "CallSettings": '{"Company":"EPIC06"}'}
    response = client.get(f"{V1}/Erp.BO.PartSvc/Parts?$filter=PartNum eq 'GADGET-200'",
                          headers=headers)
    body = response.get_json()
    assert response.status_code == 200
    assert "odata.metadata" in body and "@odata.context" not in body
    assert [part["UnitPrice"] for part in body["value"]] == [49.0]
    created_row = client.post(f"{V1}/Erp.BO.CustomerSvc/Customers", headers=headers,
                              json={"CustID": "V1", "Name": "Via v1"})
    assert created_row.status_code == 201
    assert created_row.get_json()["CustNum"] == 201
    wrong = {"Authorization": BASIC, "CallSettings": '{"Company":"OTHER"}'}
    assert_error(client.get(f"{V1}/Erp.BO.PartSvc/Parts", headers=wrong), 400, "Ice.BLException")


def test_wrong_company_in_v2_path_is_400(client):
    response = client.get("/KineticSandbox/api/v2/odata/OTHER/Erp.BO.PartSvc/Parts", headers=HEADERS)
    assert_error(response, 400, "Ice.BLException")


# --- OData reads ---------------------------------------------------------------------------------

def test_filter_select_top_skip(client):
    for index in range(5):
        customer(client, f"C{index}", CurrencyCode="EUR" if index % 2 else "USD")
    customer(client, "OBRIEN", Name="O'Brien & Co")
    eur = get(client, "Customers?$filter=CurrencyCode eq 'EUR'").get_json()
    assert [row["CustID"] for row in eur["value"]] == ["C1", "C3"]
    assert "@odata.nextLink" not in eur and "@odata.context" in eur
    by_num = get(client, "Customers?$filter=CustNum eq 203 or (CustID eq 'C4' and CreditHold eq false)")
    assert [row["CustID"] for row in by_num.get_json()["value"]] == ["C2", "C4"]
    quoted = get(client, "Customers?$filter=Name eq 'O''Brien & Co'".replace("&", "%26"))
    assert [row["CustID"] for row in quoted.get_json()["value"]] == ["OBRIEN"]
    selected = get(client, "Customers?$select=CustNum,CustID&$top=2&$skip=1").get_json()["value"]
    assert selected == [{"CustNum": 202, "CustID": "C1"}, {"CustNum": 203, "CustID": "C2"}]
    last_page = get(client, "Customers?$top=4&$skip=4").get_json()["value"]
    assert [row["CustID"] for row in last_page] == ["C4", "OBRIEN"]


@pytest.mark.parametrize("query", ["$filter=Nope eq 'x'", "$filter=CustID eq", "$filter=CustID eq 'x",
                                   "$filter=CustNum eq 'abc'", "$select=Nope", "$top=-1",
                                   "$expand=ShipToes"])
def test_malformed_query_is_400_odata_exception(client, query):
    assert_error(get(client, f"Customers?{query}"), 400, "Microsoft.OData.ODataException")


def test_key_lookup(client):
    part = get(client, "Parts('EPIC06','WIDGET-100')").get_json()
    assert part["UnitPrice"] == 12.5 and part["IUM"] == "EA" and "@odata.context" in part
    assert GUID.match(part["SysRowID"]) and part["RowMod"] == "" and isinstance(part["SysRevID"], int)
    assert_error(get(client, "Parts('EPIC06','NOPE')"), 404, "Ice.Common.RecordNotFoundException")
    assert_error(get(client, "Customers('EPIC06',999)"), 404, "Ice.Common.RecordNotFoundException")
    assert_error(get(client, "Customers('EPIC06')"), 400, "Microsoft.OData.ODataException")
    assert_error(get(client, "Customers('EPIC06','201')"), 400, "Microsoft.OData.ODataException")
    reason = get(client, "Reasons('EPIC06','A','DUPL')").get_json()
    assert reason["ReasonCode"] == "DUPL"


# --- customers -----------------------------------------------------------------------------------

def test_customer_rules(client):
    first = customer(client, "ACME", ExternalID="cus_1")
    assert first["CustNum"] == 201 and first["CurrencyCode"] == "USD" and first["SysRevID"] == 1
    assert_error(post(client, "Customers", {"CustID": "ACME", "Name": "Again"}), 409,
                 "Ice.Common.DuplicateRecordException", "CustID")
    assert_error(post(client, "Customers", {"CustID": " ", "Name": "Blank"}), 400,
                 "Ice.BLException", "CustID")
    assert_error(post(client, "Customers", {"CustID": "ELEVENCHARS", "Name": "Long"}), 400,
                 "Ice.BLException", "CustID")
    assert_error(post(client, "Customers", {"CustID": "NONAME"}), 400, "Ice.BLException", "Name")
    assert_error(post(client, "Customers", {"CustID": "CUR", "Name": "X", "CurrencyCode": "XYZ"}),
                 400, "Ice.BLException", "CurrencyCode")
    assert_error(post(client, "Customers", {"CustID": "TRM", "Name": "X", "TermsCode": "N99"}),
                 400, "Ice.BLException", "TermsCode")
    assert customer(client, "NEXT")["CustNum"] == 202


def test_patch_is_204_and_bumps_sysrevid(client):
    first = customer(client, "ACME")
    response = patch(client, "Customers('EPIC06',201)", {"EMailAddress": "ap@acme.example"})
    assert response.status_code == 204 and response.data == b""
    after = get(client, "Customers('EPIC06',201)").get_json()
    assert after["EMailAddress"] == "ap@acme.example"
    assert after["SysRevID"] == first["SysRevID"] + 1
    assert_error(patch(client, "Customers('EPIC06',999)", {"Name": "x"}), 404,
                 "Ice.Common.RecordNotFoundException")


# --- sales orders --------------------------------------------------------------------------------

def test_order_with_unknown_customer_is_400(client):
    body = assert_error(post(client, "SalesOrders", {"CustNum": 999}), 400, "Ice.BLException",
                        "CustNum")
    assert body["ErrorDetails"][0]["Table"] == "OrderHed"


def test_order_defaults_numbering_and_total(client):
    cust = customer(client, "EURO", CurrencyCode="EUR", TermsCode="N30")
    order = created(client, "SalesOrders", {"CustNum": cust["CustNum"], "IntExternalKey": "pi_1"})
    assert order["OrderNum"] == 5001 and order["CurrencyCode"] == "EUR"
    assert order["OrderDate"] == dt.date.today().isoformat() + "T00:00:00"
    assert order["TermsCode"] == "N30" and order["OpenOrder"] is True
    lines = [created(client, "OrderDtls", {"OrderNum": 5001, "PartNum": "WIDGET-100",
                                           "SellingQuantity": 3, "DocUnitPrice": 12.5})]
    lines.append(created(client, "OrderDtls", {"OrderNum": 5001, "PartNum": "GADGET-200",
                                               "SellingQuantity": 1, "DocUnitPrice": 49}))
    lines.append(created(client, "OrderDtls", {"OrderNum": 5001, "OrderLine": 7,
                                               "PartNum": "SUB-MONTHLY", "SellingQuantity": 2,
                                               "DocUnitPrice": 20}))
    lines.append(created(client, "OrderDtls", {"OrderNum": 5001, "OrderLine": 0,
                                               "PartNum": "WIDGET-100", "SellingQuantity": 1,
                                               "DocUnitPrice": 0.1}))
    assert [line["OrderLine"] for line in lines] == [1, 2, 7, 8]
    assert lines[0]["DocExtPriceDtl"] == 37.5 and lines[0]["PartExists"] is True
    assert_error(post(client, "OrderDtls", {"OrderNum": 5001, "OrderLine": 2, "PartNum": "X",
                                            "SellingQuantity": 1, "DocUnitPrice": 1}),
                 409, "Ice.Common.DuplicateRecordException")
    head = get(client, "SalesOrders('EPIC06',5001)").get_json()
    assert head["DocOrderAmt"] == 126.6 and head["SysRevID"] > order["SysRevID"]
    assert patch(client, "OrderDtls('EPIC06',5001,1)", {"SellingQuantity": 4}).status_code == 204
    assert get(client, "SalesOrders('EPIC06',5001)").get_json()["DocOrderAmt"] == 139.1
    children = get(client, "SalesOrders('EPIC06',5001)/OrderDtls?$select=OrderLine").get_json()
    assert children["value"] == [{"OrderLine": 1}, {"OrderLine": 2}, {"OrderLine": 7},
                                 {"OrderLine": 8}]


def test_order_line_rules(client):
    cust = customer(client)
    order = created(client, "SalesOrders", {"CustNum": cust["CustNum"]})
    line = {"OrderNum": order["OrderNum"], "PartNum": "WIDGET-100", "SellingQuantity": 1,
            "DocUnitPrice": 1}
    assert_error(post(client, "OrderDtls", {**line, "OrderNum": 9999}), 400, "Ice.BLException",
                 "OrderNum")
    assert_error(post(client, "OrderDtls", {**line, "PartNum": ""}), 400, "Ice.BLException", "PartNum")
    assert_error(post(client, "OrderDtls", {**line, "SellingQuantity": 0}), 400, "Ice.BLException",
                 "SellingQuantity")
    assert_error(post(client, "OrderDtls", {**line, "DocUnitPrice": -1}), 400, "Ice.BLException",
                 "DocUnitPrice")
    closed = created(client, "SalesOrders", {"CustNum": cust["CustNum"], "OpenOrder": False})
    assert_error(post(client, "OrderDtls", {**line, "OrderNum": closed["OrderNum"]}), 400,
                 "Ice.BLException", "OrderNum")


def test_unknown_part_on_the_fly_then_strict_mode(client):
    cust = customer(client)
    order = created(client, "SalesOrders", {"CustNum": cust["CustNum"]})
    line = {"OrderNum": order["OrderNum"], "PartNum": "MYSTERY", "SellingQuantity": 1,
            "DocUnitPrice": 5}
    assert created(client, "OrderDtls", line)["PartExists"] is False
    assert client.put("/_sandbox/epicor/settings", json={"strict_parts": True}).status_code == 200
    body = assert_error(post(client, "OrderDtls", line), 400, "Ice.BLException", "PartNum")
    assert body["ErrorMessage"] == "Part MYSTERY is not valid."
    added = client.post("/_sandbox/epicor/parts", json={"PartNum": "MYSTERY", "PartDescription": "M",
                                                         "UnitPrice": 5, "IUM": "EA", "SalesUM": "EA"})
    assert added.status_code == 201
    assert created(client, "OrderDtls", line)["PartExists"] is True


# --- AR invoices ---------------------------------------------------------------------------------

def test_invoice_group_duplicate_is_409(client):
    invoice_group(client)
    assert_error(post(client, "InvcGrps", {"GroupID": "IN260304"}), 409,
                 "Ice.Common.DuplicateRecordException")
    cash_group(client)
    assert_error(post(client, "CashGrps", {"GroupID": "SC260304", "BankAcctID": "MAIN"}), 409,
                 "Ice.Common.DuplicateRecordException")
    assert_error(post(client, "CashGrps", {"GroupID": "SC260305", "BankAcctID": "NOPE"}), 400,
                 "Ice.BLException", "BankAcctID")


def post_group(client, set_name, group_id):
    return client.post(f"/_sandbox/epicor/groups/{set_name}/{group_id}/post")


def test_posting_an_invoice_group_removes_it_and_a_group_of_that_id_can_be_opened_again(client):
    acme = customer(client)
    invoice_group(client)
    first = invoice(client, acme["CustNum"], [(1, 40)])
    answer = post_group(client, "InvcGrps", "IN260304")
    assert answer.status_code == 200 and answer.get_json()["ARInvoices"] == 1
    assert get(client, "InvcGrps('EPIC06','IN260304')").status_code == 404
    assert get(client, f"ARInvoices('EPIC06',{first['InvoiceNum']})").get_json()["Posted"] is True
    # what the accountant's posting leaves for the integration: the next invoice is refused ...
    refused = post(client, "ARInvoices", {"GroupID": "IN260304", "InvoiceType": "Mis", "CustNum": acme["CustNum"]})
    assert_error(refused, 400, "Ice.BLException", "GroupID")
    # ... until the group is opened again, whose total counts only its own invoices
    invoice_group(client)
    invoice(client, acme["CustNum"], [(2, 5)])
    assert get(client, "InvcGrps('EPIC06','IN260304')").get_json()["TotalInvAmt"] == 10
    assert post_group(client, "InvcGrps", "IN260304").get_json()["ARInvoices"] == 1  # not the posted one again


def test_posting_a_cash_group_marks_its_receipts_and_their_lines(client):
    acme = customer(client)
    invoice_group(client)
    sale = invoice(client, acme["CustNum"], [(1, 40)])
    cash_group(client)
    head = receipt(client, acme["CustNum"], 40)
    assert apply_cash(client, head, sale["InvoiceNum"], 40).status_code == 201
    answer = post_group(client, "CashGrps", "SC260304").get_json()
    assert (answer["CashRecs"], answer["CashDtls"]) == (1, 1)
    assert get(client, "CashGrps('EPIC06','SC260304')").status_code == 404
    assert get(client, f"CashRecs('EPIC06','SC260304',{head['HeadNum']})").get_json()["Posted"] is True
    assert_error(post(client, "CashRecs", {"GroupID": "SC260304", "TranType": "PayInv", "CustNum": acme["CustNum"],
                                           "DocTranAmt": 5}), 400, "Ice.BLException", "GroupID")
    cash_group(client)
    receipt(client, acme["CustNum"], 7)
    assert get(client, "CashGrps('EPIC06','SC260304')").get_json()["TotalCashReceived"] == 7


def test_posting_an_unknown_group_or_set_is_404(client):
    assert post_group(client, "InvcGrps", "NOPE").status_code == 404
    assert post_group(client, "Customers", "X").status_code == 404


def test_adv_invoice_needs_an_order_of_the_same_customer(client):
    euro = customer(client, "EURO", CurrencyCode="EUR")
    other = customer(client, "OTHER")
    order = order_with_lines(client, euro["CustNum"], [("WIDGET-100", 3, 12.5)])
    invoice_group(client)
    base = {"GroupID": "IN260304", "InvoiceType": "Adv", "CustNum": euro["CustNum"]}
    assert_error(post(client, "ARInvoices", base), 400, "Ice.BLException", "OrderNum")
    assert_error(post(client, "ARInvoices", {**base, "OrderNum": 9999}), 400, "Ice.BLException",
                 "OrderNum")
    assert_error(post(client, "ARInvoices", {**base, "CustNum": other["CustNum"],
                                             "OrderNum": order["OrderNum"]}),
                 400, "Ice.BLException", "OrderNum")
    assert_error(post(client, "ARInvoices", {**base, "GroupID": "NOGROUP",
                                             "OrderNum": order["OrderNum"]}),
                 400, "Ice.BLException", "GroupID")
    assert_error(post(client, "ARInvoices", {**base, "InvoiceType": "XYZ",
                                             "OrderNum": order["OrderNum"]}),
                 400, "Ice.BLException", "InvoiceType")
    head = created(client, "ARInvoices", {**base, "OrderNum": order["OrderNum"], "ExternalID": "ch_1"})
    assert head["InvoiceNum"] == 70001 and head["CurrencyCode"] == "EUR"
    assert head["InvoiceDate"] == "2026-03-04T00:00:00"
    line = created(client, "InvcDtls", {"InvoiceNum": 70001, "PartNum": "WIDGET-100",
                                        "SellingShipQty": 3, "DocUnitPrice": 12.5,
                                        "OrderNum": order["OrderNum"], "OrderLine": 1})
    assert line["InvoiceLine"] == 1 and line["DocExtPrice"] == 37.5
    assert_error(post(client, "InvcDtls", {"InvoiceNum": 70001, "SellingShipQty": 1,
                                           "DocUnitPrice": 1, "OrderNum": order["OrderNum"],
                                           "OrderLine": 9}), 400, "Ice.BLException", "OrderLine")
    assert_error(post(client, "InvcDtls", {"InvoiceNum": 70001, "DocUnitPrice": 1}), 400,
                 "Ice.BLException", "SellingShipQty")
    after = get(client, "ARInvoices('EPIC06',70001)").get_json()
    assert (after["DocInvoiceAmt"], after["DocUnpostedBal"], after["DocInvoiceBal"]) == (37.5, 37.5, 0)
    assert after["Posted"] is False


def test_credit_memo_rules(client):
    acme = customer(client, "ACME")
    euro = customer(client, "EURO", CurrencyCode="EUR")
    invoice_group(client)
    original = invoice(client, acme["CustNum"], [(1, 50)])
    euro_invoice = invoice(client, euro["CustNum"], [(1, 50)])
    memo = {"GroupID": "IN260304", "InvoiceType": "Mis", "CustNum": acme["CustNum"],
            "CreditMemo": True, "InvoiceRef": original["InvoiceNum"], "CMReason": "CUSTREQ"}
    assert_error(post(client, "ARInvoices", {**memo, "CMReason": "NOPE"}), 400, "Ice.BLException",
                 "CMReason")
    assert_error(post(client, "ARInvoices", {**memo, "InvoiceRef": 99999}), 400, "Ice.BLException",
                 "InvoiceRef")
    assert_error(post(client, "ARInvoices", {**memo, "InvoiceRef": euro_invoice["InvoiceNum"]}), 400,
                 "Ice.BLException", "InvoiceRef")
    assert_error(post(client, "ARInvoices", {**memo, "CurrencyCode": "EUR"}), 400, "Ice.BLException",
                 "InvoiceRef")
    head = created(client, "ARInvoices", memo)
    assert_error(post(client, "ARInvoices", {**memo, "InvoiceRef": head["InvoiceNum"]}), 400,
                 "Ice.BLException", "InvoiceRef")
    line = {"InvoiceNum": head["InvoiceNum"], "SellingShipQty": 1, "DocUnitPrice": 20}
    assert_error(post(client, "InvcDtls", line), 400, "Ice.BLException", "SellingShipQty")
    assert created(client, "InvcDtls", {**line, "SellingShipQty": -1})["DocExtPrice"] == -20
    stored = get(client, f"ARInvoices('EPIC06',{head['InvoiceNum']})").get_json()
    assert stored["DocInvoiceAmt"] == -20 and stored["DocUnpostedBal"] == -20
    assert stored["CreditMemo"] is True


# --- cash receipts -------------------------------------------------------------------------------

def test_receipt_applying_reduces_unposted_balance_and_overpay_is_rejected(client):
    acme = customer(client, "ACME")
    other = customer(client, "OTHER")
    invoice_group(client)
    cash_group(client)
    first = invoice(client, acme["CustNum"], [(3, 12.5)])
    second = invoice(client, acme["CustNum"], [(1, 40)])
    foreign = invoice(client, other["CustNum"], [(1, 10)])
    head = receipt(client, acme["CustNum"], 50, ExternalID="ch_1", CheckRef="ch_1")
    assert head["HeadNum"] == 1 and head["CurrencyCode"] == "USD"
    assert_error(apply_cash(client, head, first["InvoiceNum"], 40), 400, "Ice.BLException",
                 "DocTranAmt")
    assert apply_cash(client, head, first["InvoiceNum"], 30).status_code == 201
    after = get(client, f"ARInvoices('EPIC06',{first['InvoiceNum']})").get_json()
    assert after["DocUnpostedBal"] == 7.5 and after["DocInvoiceBal"] == 0
    stored_head = get(client, "CashRecs('EPIC06','SC260304',1)").get_json()
    assert (stored_head["DocAppliedAmt"], stored_head["DocUnAppliedAmt"]) == (30, 20)
    assert_error(apply_cash(client, head, second["InvoiceNum"], 25), 400, "Ice.BLException",
                 "DocTranAmt")
    assert_error(apply_cash(client, head, foreign["InvoiceNum"], 5), 400, "Ice.BLException",
                 "InvoiceNum")
    assert_error(apply_cash(client, head, first["InvoiceNum"], 5), 409,
                 "Ice.Common.DuplicateRecordException")
    assert_error(patch(client, "CashRecs('EPIC06','SC260304',1)", {"CustNum": other["CustNum"]}),
                 400, "Ice.BLException", "CustNum")
    assert_error(patch(client, "CashRecs('EPIC06','SC260304',1)", {"DocTranAmt": 20}), 400,
                 "Ice.BLException", "DocTranAmt")
    group = get(client, "CashGrps('EPIC06','SC260304')").get_json()
    assert (group["TotalCashReceived"], group["TotalApplied"], group["UnappliedBalance"]) == (50, 30, 20)
    assert receipt(client, acme["CustNum"], 10)["HeadNum"] == 2


def test_receipt_header_rules(client):
    acme = customer(client, "ACME")
    cash_group(client)
    base = {"GroupID": "SC260304", "TranType": "PayInv", "CustNum": acme["CustNum"], "DocTranAmt": 5}
    assert_error(post(client, "CashRecs", {**base, "GroupID": "NONE"}), 400, "Ice.BLException",
                 "GroupID")
    assert_error(post(client, "CashRecs", {**base, "TranType": "Cash"}), 400, "Ice.BLException",
                 "TranType")
    assert_error(post(client, "CashRecs", {**base, "CustNum": 999}), 400, "Ice.BLException", "CustNum")
    assert_error(post(client, "CashRecs", {**base, "DocTranAmt": 0}), 400, "Ice.BLException",
                 "DocTranAmt")
    assert_error(post(client, "CashRecs", {**base, "CurrencyCode": "XYZ"}), 400, "Ice.BLException",
                 "CurrencyCode")
    misc = created(client, "CashRecs", {**base, "TranType": "MisPay", "CustNum": 0})
    invoice_group(client)
    bill = invoice(client, acme["CustNum"], [(1, 5)])
    assert_error(apply_cash(client, misc, bill["InvoiceNum"], 5), 400, "Ice.BLException", "TranType")


def test_refund_receipt_applies_to_credit_memo_only(client):
    acme = customer(client, "ACME")
    invoice_group(client)
    cash_group(client)
    bill = invoice(client, acme["CustNum"], [(1, 50)])
    memo_head = created(client, "ARInvoices", {"GroupID": "IN260304", "InvoiceType": "Mis",
                                               "CustNum": acme["CustNum"], "CreditMemo": True,
                                               "InvoiceRef": bill["InvoiceNum"], "CMReason": "DUPL"})
    created(client, "InvcDtls", {"InvoiceNum": memo_head["InvoiceNum"], "SellingShipQty": -1,
                                 "DocUnitPrice": 50})
    refund = receipt(client, acme["CustNum"], -50)
    assert_error(apply_cash(client, refund, bill["InvoiceNum"], -50), 400, "Ice.BLException")
    assert apply_cash(client, refund, memo_head["InvoiceNum"], -50).status_code == 201
    memo = get(client, f"ARInvoices('EPIC06',{memo_head['InvoiceNum']})").get_json()
    assert memo["DocUnpostedBal"] == 0
    payment = receipt(client, acme["CustNum"], 50)
    assert_error(apply_cash(client, payment, memo_head["InvoiceNum"], 50), 400, "Ice.BLException")


def test_currency_decimals(client):
    yen = customer(client, "YEN", CurrencyCode="JPY")
    dinar = customer(client, "DINAR", CurrencyCode="KWD")
    order = created(client, "SalesOrders", {"CustNum": yen["CustNum"]})
    line = {"OrderNum": order["OrderNum"], "PartNum": "WIDGET-100", "SellingQuantity": 1}
    assert_error(post(client, "OrderDtls", {**line, "DocUnitPrice": 12.5}), 400, "Ice.BLException",
                 "DocUnitPrice")
    assert created(client, "OrderDtls", {**line, "DocUnitPrice": 1250})["DocExtPriceDtl"] == 1250
    cash_group(client)
    assert receipt(client, dinar["CustNum"], 1.234)["DocTranAmt"] == 1.234
    assert_error(post(client, "CashRecs", {"GroupID": "SC260304", "TranType": "PayInv",
                                           "CustNum": dinar["CustNum"], "DocTranAmt": 1.2345}),
                 400, "Ice.BLException", "DocTranAmt")
    usd = customer(client, "DOLLAR")
    assert_error(post(client, "CashRecs", {"GroupID": "SC260304", "TranType": "PayInv",
                                           "CustNum": usd["CustNum"], "DocTranAmt": 1.234}),
                 400, "Ice.BLException", "DocTranAmt")
    assert receipt(client, usd["CustNum"], 1.20)["DocTranAmt"] == 1.2


def test_receipt_currency_must_match_invoice(client):
    euro = customer(client, "EURO", CurrencyCode="EUR")
    invoice_group(client)
    cash_group(client)
    bill = invoice(client, euro["CustNum"], [(1, 10)])
    usd_receipt = receipt(client, euro["CustNum"], 10, CurrencyCode="USD")
    assert_error(apply_cash(client, usd_receipt, bill["InvoiceNum"], 10), 400, "Ice.BLException")


# --- persistence, admin, faults ------------------------------------------------------------------

def test_data_survives_a_restart(tmp_path):
    db_path = str(tmp_path / "epicor.db")
    customer(make_client(EpicorState(db_path)), "KEEP")
    reopened = make_client(EpicorState(db_path))
    rows = get(reopened, "Customers?$filter=CustID eq 'KEEP'").get_json()["value"]
    assert [row["CustNum"] for row in rows] == [201]
    assert customer(reopened, "NEXT")["CustNum"] == 202
    assert len(get(reopened, "Parts").get_json()["value"]) == 4


def test_dump_reset_and_seed(client):
    customer(client)
    dump = client.get("/_sandbox/epicor/dump").get_json()
    assert set(dump) == {"Customers", "SalesOrders", "OrderDtls", "ARInvoices", "InvcDtls",
                         "CashRecs", "CashDtls", "InvcGrps", "CashGrps", "Parts", "Reasons"}
    assert len(dump["Customers"]) == 1
    assert {part["PartNum"] for part in dump["Parts"]} == {"STRIPE-SALE", "WIDGET-100", "GADGET-200",
                                                           "SUB-MONTHLY"}
    assert {reason["ReasonCode"] for reason in dump["Reasons"]} == {
        "DUPL", "FRAUD", "CUSTREQ", "EXPIRED", "OTHER", "DISPUTE", "DISPLOST"}
    assert client.post("/_sandbox/epicor/reset").status_code == 200
    assert client.get("/_sandbox/epicor/dump").get_json()["Customers"] == []
    assert customer(client)["CustNum"] == 201


def test_call_stats(client):
    get(client, "Customers")
    get(client, "Customers('EPIC06',201)")
    customer(client)
    stats = client.get("/_sandbox/epicor/stats").get_json()
    assert stats == {"calls": {"GET Customers": 2, "POST Customers": 1}, "total": 3}
    client.post("/_sandbox/epicor/stats/reset")
    assert client.get("/_sandbox/epicor/stats").get_json() == {"calls": {}, "total": 0}


def put_faults(client, **switches) -> dict:
    response = client.put("/_sandbox/epicor/faults", json=switches)
    assert response.status_code == 200
    return response.get_json()


def test_license_burst_then_clears(client):
    assert put_faults(client, license_burst=2)["license_burst"] == 2
    for _ in range(2):
        body = assert_error(get(client, "Parts"), 400, "Ice.Common.LicenseAccessException")
        assert "Maximum users exceeded" in body["ErrorMessage"]
    assert get(client, "Parts").status_code == 200
    assert client.get("/_sandbox/epicor/faults").get_json()["license_burst"] == 0


def test_license_exhausted_until_switched_off(client):
    put_faults(client, license_exhausted=True)
    for _ in range(3):
        assert_error(get(client, "Parts"), 400, "Ice.Common.LicenseAccessException")
    put_faults(client, license_exhausted=False)
    assert get(client, "Parts").status_code == 200


def test_error_rate_one_fails_every_rest_call_but_not_admin(client):
    put_faults(client, error_rate=1.0, seed=7)
    for _ in range(5):
        response = post(client, "Customers", {"CustID": "X", "Name": "X"})
        assert response.status_code in (500, 503)
        assert_error(response, response.status_code, "Ice.Common.ServerException")
    assert client.get("/_sandbox/epicor/dump").get_json()["Customers"] == []
    client.post("/_sandbox/epicor/reset")
    assert get(client, "Parts").status_code == 200


def test_commit_then_timeout_commits_the_row(client):
    put_faults(client, commit_then_timeout_rate=1.0, timeout_seconds=0.3)
    started = time.monotonic()
    response = post(client, "Customers", {"CustID": "SLOW", "Name": "Slow"})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 201
    assert [row["CustID"] for row in client.get("/_sandbox/epicor/dump").get_json()["Customers"]] \
        == ["SLOW"]
    started = time.monotonic()
    assert get(client, "Customers").status_code == 200
    assert time.monotonic() - started < 0.3


def test_latency_and_bad_fault_switches(client):
    put_faults(client, latency_ms=100)
    started = time.monotonic()
    get(client, "Parts")
    assert time.monotonic() - started >= 0.1
    assert client.put("/_sandbox/epicor/faults", json={"error_rate": 2}).status_code == 400
    assert client.put("/_sandbox/epicor/faults", json={"nope": 1}).status_code == 400
