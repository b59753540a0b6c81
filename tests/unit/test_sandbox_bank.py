"""The Epicor emulator's bank documents (contract §4b, §5b, §6b): adjustment groups, adjustments, the
bank funds transfer method sequence, the register read by TranRef, posting, and the §8 reference rows.
Each §5b rule is refused with Epicor's error shape (§3)."""

from __future__ import annotations

import base64
import re

import pytest
from flask import Flask

from sandbox.epicor import EpicorState, make_epicor_blueprint

V2 = "/KineticSandbox/api/v2/odata/EPIC06"
V1 = "/KineticSandbox/api/v1"
BASIC = "Basic " + base64.b64encode(b"manager:manager").decode()
HEADERS = {"Authorization": BASIC, "x-api-key": "sandbox-api-key"}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ADJ = "Erp.BO.BankAdjEntrySvc"
FUND = "Erp.BO.BankFundTranSvc"
PAYOUT = "po_1Q2w3E4r5T6y7U8i9O0pAbCd"
DAY = "2026-03-04T00:00:00"
BL = "Ice.BLException"
API = "Epicor.RESTApi.ErrorHandling.ApiException"


@pytest.fixture
def state() -> EpicorState:
    return EpicorState(":memory:")


@pytest.fixture
def client(state):
    app = Flask(__name__)
    app.register_blueprint(make_epicor_blueprint(state))
    return app.test_client()


def post(client, path, body):
    return client.post(f"{V2}/{path}", headers=HEADERS, json=body)


def get(client, path):
    return client.get(f"{V2}/{path}", headers=HEADERS)


def assert_error(response, status, error_type=BL, field=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"HttpStatus", "ReasonPhrase", "ErrorMessage", "ErrorType", "ErrorDetails", "CorrelationId"}
    assert body["HttpStatus"] == status and body["ErrorType"] == error_type
    assert GUID.match(body["CorrelationId"])
    if field is not None:
        assert body["ErrorDetails"][0]["Field"] == field, body
    return body


def group(client, group_id="SB260304", **fields):
    body = {"Company": "EPIC06", "GroupID": group_id, "BankAcctID": "MAIN", "TranDate": DAY, **fields}
    return post(client, f"{ADJ}/BankAdjEntries", body)


def adjustment(client, **fields):
    body = {"Company": "EPIC06", "BankAcctID": "MAIN", "TranNum": 0, "Voided": False, "GroupID": "SB260304",
            "TranDate": DAY, "DocTranAmt": -41.27, "CurrencyCode": "USD", "BankFeeID": "STRFEE",
            "TranRef": PAYOUT, **fields}
    return post(client, f"{ADJ}/BankTrans", body)


def created(response):
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def method(client, name, body, service=FUND):
    return post(client, f"{service}/{name}", body)


def transfer_ds(client, source="MAIN", target="OPER", date=DAY, amount=1958.73, reference=PAYOUT, **row):
    """The §6b sequence up to ChangeFromAmt; returns the ds to pass to CreateBankTranRecords."""
    response = method(client, "CreateBankTran", {})
    assert response.status_code == 200, response.get_json()
    ds = response.get_json()["returnObj"]
    for name, body in (("ChangeFromBank", {"bankAcctID": source, "isFirstBank": True}),
                       ("ChangeTargetBank", {"toBankAcctID": target, "isFirstBank": False}),
                       ("ChangeTranDate", {"tranDate": date, "fromSourceBank": True})):
        response = method(client, name, {**body, "ds": ds})
        assert response.status_code == 200, response.get_json()
        ds = response.get_json()["parameters"]["ds"]
    ds["BankFundsTransfer"][0].update(TranRef=reference, **row)
    response = method(client, "ChangeFromAmt", {"docTranAmt": amount, "ds": ds, "isFirstBank": True})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["parameters"]["ds"]


def transfer(client, **kwargs) -> int:
    response = method(client, "CreateBankTranRecords", {"ds": transfer_ds(client, **kwargs)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["returnObj"]


def rows_of(client, reference=PAYOUT):
    select = "BankAcctID,TranNum,Voided,BankFeeID,DocTranAmt,GroupID,GLPosted"
    response = get(client, f"{ADJ}/BankTrans?$filter=TranRef eq '{reference}'&$select={select}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["value"]


# ---- reference data (§8) --------------------------------------------------------------------

def test_reference_sets_are_seeded_and_read_only(client):
    banks = get(client, "Erp.BO.BankAcctSvc/BankAccts").get_json()["value"]
    assert {(b["BankAcctID"], b["Closed"]) for b in banks} == {("MAIN", False), ("OPER", False), ("RETIRED", True)}
    fees = get(client, "Erp.BO.BankFeeSvc/BankFees").get_json()["value"]
    assert {fee["BankFeeID"] for fee in fees} == {"STRFEE", "DISPFEE", "FXFEE", "OTHFEE"}
    assert get(client, "Erp.BO.BankFeeSvc/BankFees('EPIC06','STRFEE')").status_code == 200
    assert get(client, "Erp.BO.BankFeeSvc/BankFees('EPIC06','NOPE')").status_code == 404
    assert_error(post(client, "Erp.BO.BankFeeSvc/BankFees", {"BankFeeID": "X"}), 405, API)
    closed = get(client, "Erp.BO.GLBookPerSearchSvc/GLBookPerSearches?$filter=ClosedPeriod eq true").get_json()
    assert [(p["FiscalYear"], p["FiscalPeriod"]) for p in closed["value"]] == [(2021, 6)]


# ---- adjustment groups ----------------------------------------------------------------------

def test_group_is_created_with_server_fiscal_fields_and_a_duplicate_is_409(client):
    row = created(group(client))
    assert (row["FiscalYear"], row["FiscalPeriod"], row["FiscalYearSuffix"], row["FiscalCalendarID"]) \
        == (2026, 3, "", "MAIN")
    assert row["CreatedBy"] == "manager" and row["ActiveUserID"] == "manager" and row["RowMod"] == ""
    assert_error(group(client), 409, "Ice.Common.DuplicateRecordException")
    assert get(client, f"{ADJ}/BankAdjEntries('EPIC06','SB260304')").get_json()["BankAcctID"] == "MAIN"


@pytest.mark.parametrize(("fields", "field"), [
    ({"GroupID": ""}, "GroupID"),
    ({"GroupID": "SB2603041"}, "GroupID"),
    ({"BankAcctID": ""}, "BankAcctID"),
    ({"BankAcctID": "NOPE"}, "BankAcctID"),
    ({"BankAcctID": "RETIRED"}, "BankAcctID"),
    ({"TranDate": None}, "TranDate"),
    ({"TranDate": "2021-06-15T00:00:00"}, "TranDate"),   # the closed period
    ({"TranDate": "2019-12-31T00:00:00"}, "TranDate"),   # before the calendar
    ({"FiscalPeriod": 4}, "FiscalPeriod"),
    ({"FiscalYear": 2025}, "FiscalYear"),
    ({"FiscalCalendarID": "OTHER"}, "FiscalCalendarID"),
])
def test_group_rules(client, fields, field):
    assert_error(group(client, **{"GroupID": "SB260304", **fields}), 400, field=field)


def test_group_bank_and_date_change_only_while_it_holds_no_adjustment(client):
    created(group(client))
    url = f"{V2}/{ADJ}/BankAdjEntries('EPIC06','SB260304')"
    assert client.patch(url, headers=HEADERS, json={"TranDate": "2026-03-05T00:00:00"}).status_code == 204
    created(adjustment(client, TranDate="2026-03-05T00:00:00"))
    response = client.patch(url, headers=HEADERS, json={"TranDate": "2026-03-06T00:00:00"})
    assert_error(response, 400, field="TranDate")
    assert_error(client.patch(url, headers=HEADERS, json={"BankAcctID": "OPER"}), 400, field="BankAcctID")


# ---- adjustments ----------------------------------------------------------------------------

def test_adjustment_numbering_defaults_and_server_fields(client):
    created(group(client))
    first = created(adjustment(client))
    assert (first["TranNum"], first["Voided"], first["GLPosted"]) == (1, False, False)
    assert first["SourceModule"] == "BK" and first["EntryPerson"] == "manager"
    assert (first["TranAmt"], first["ExchangeRate"], first["FiscalYear"], first["FiscalPeriod"]) == (-41.27, 1, 2026, 3)
    second = created(adjustment(client, BankAcctID=None, TranDate=None, CurrencyCode=None, BankFeeID="DISPFEE",
                                DocTranAmt=15))
    assert (second["TranNum"], second["BankAcctID"], second["TranDate"], second["CurrencyCode"]) \
        == (2, "MAIN", DAY, "USD")
    # another bank numbers on its own
    created(group(client, "SB260305", BankAcctID="OPER"))
    assert created(adjustment(client, GroupID="SB260305", BankAcctID="OPER"))["TranNum"] == 1
    got = get(client, f"{ADJ}/BankTrans('EPIC06','MAIN',2,false)")
    assert got.status_code == 200 and got.get_json()["BankFeeID"] == "DISPFEE"
    assert get(client, f"{ADJ}/BankTrans('EPIC06','MAIN',2,true)").status_code == 404


def test_adjustment_in_another_currency_and_exchange_rate(client):
    created(group(client))
    jpy = created(adjustment(client, CurrencyCode="JPY", DocTranAmt=-412))
    assert jpy["CurrencyCode"] == "JPY" and jpy["DocTranAmt"] == -412
    rated = created(adjustment(client, DocTranAmt=-10, ExchangeRate=1.5, TranAmt=-15))
    assert rated["TranAmt"] == -15
    assert_error(adjustment(client, CurrencyCode="JPY", DocTranAmt=-41.5), 400, field="DocTranAmt")
    assert_error(adjustment(client, CurrencyCode="KWD", DocTranAmt=-1.2345), 400, field="DocTranAmt")
    assert created(adjustment(client, CurrencyCode="KWD", DocTranAmt=-1.234))["DocTranAmt"] == -1.234


@pytest.mark.parametrize(("fields", "field"), [
    ({"GroupID": "SB990101"}, "GroupID"),              # no such group
    ({"BankAcctID": "OPER"}, "BankAcctID"),            # not the group's bank
    ({"DocTranAmt": 0}, "DocTranAmt"),
    ({"DocTranAmt": -41.275}, "DocTranAmt"),
    ({"CurrencyCode": "XXX"}, "CurrencyCode"),
    ({"TranAmt": -41.28}, "TranAmt"),
    ({"TranDate": "2026-04-01T00:00:00"}, "TranDate"),  # outside the group's period
    ({"FiscalPeriod": 2}, "FiscalPeriod"),
    ({"BankFeeID": "NOPE"}, "BankFeeID"),
    ({"TranRef": "po_" + "x" * 28}, "TranRef"),        # 31 characters
    ({"GLPosted": True}, "GLPosted"),
    ({"Voided": True}, "Voided"),
])
def test_adjustment_rules(client, fields, field):
    created(group(client))
    assert_error(adjustment(client, **fields), 400, field=field)


def test_adjustment_body_is_strict_and_the_caller_may_choose_a_number(client):
    created(group(client))
    assert_error(adjustment(client, TranReff="x"), 400, API, field="TranReff")
    assert_error(adjustment(client, DocTranAmt="-41.27"), 400, API, field="DocTranAmt")
    assert_error(adjustment(client, TranNum="1"), 400, API, field="TranNum")
    assert created(adjustment(client, TranNum=7))["TranNum"] == 7
    assert_error(adjustment(client, TranNum=7), 409, "Ice.Common.DuplicateRecordException")
    assert created(adjustment(client))["TranNum"] == 8
    assert created(adjustment(client, TranRef="po_" + "x" * 27))["TranNum"] == 9   # 30 characters is fine


def test_adjustment_in_a_closed_bank_or_a_closed_period_is_refused(client, state):
    created(group(client))
    with state.store.transaction() as txn:
        txn.update("BankAccts", {**txn.get("BankAccts", ("EPIC06", "MAIN")), "Closed": True})
    assert_error(adjustment(client), 400, field="BankAcctID")
    with state.store.transaction() as txn:
        txn.update("BankAccts", {**txn.get("BankAccts", ("EPIC06", "MAIN")), "Closed": False})
        key = ("EPIC06", "MAIN", "MAIN", 2026, "", 3)
        txn.update("GLBookPerSearches", {**txn.get("GLBookPerSearches", key), "ClosedPeriod": True})
    assert_error(adjustment(client), 400, field="TranDate")


def test_adjustment_patch_rules(client):
    created(group(client))
    created(adjustment(client))
    url = f"{V2}/{ADJ}/BankTrans('EPIC06','MAIN',1,false)"
    assert client.patch(url, headers=HEADERS, json={"DocTranAmt": -40}).status_code == 204
    assert get(client, f"{ADJ}/BankTrans('EPIC06','MAIN',1,false)").get_json()["TranAmt"] == -40
    assert_error(client.patch(url, headers=HEADERS, json={"DocTranAmt": 0}), 400, field="DocTranAmt")
    assert_error(client.patch(url, headers=HEADERS, json={"TranNum": 2}), 400, field="TranNum")
    number = transfer(client)
    url = f"{V2}/{ADJ}/BankTrans('EPIC06','OPER',{number},false)"
    assert_error(client.patch(url, headers=HEADERS, json={"DocTranAmt": 1}), 400, field="TranNum")


# ---- bank funds transfer (§6b step 4) -------------------------------------------------------

def test_transfer_sequence_writes_two_rows_under_one_new_number(client):
    created(group(client))
    created(adjustment(client))                       # MAIN TranNum 1
    ds = transfer_ds(client)
    row = ds["BankFundsTransfer"][0]
    assert (row["BankAcctID"], row["ToBankAcctID"], row["CurrencyCode"], row["ToCurrencyCode"]) \
        == ("MAIN", "OPER", "USD", "USD")
    assert (row["TranDate"], row["FiscalYear"], row["FiscalPeriod"]) == (DAY, 2026, 3)
    assert (row["DocTranAmt"], row["ToDocTranAmt"], row["TranAmt"], row["ToTranAmt"]) == (1958.73,) * 4
    assert row["FromNewBalance"] == pytest.approx(-41.27 - 1958.73)
    validated = method(client, "ValidateBeforeTransfer", {"ds": ds})
    assert validated.status_code == 200 and rows_of(client) == [
        {"BankAcctID": "MAIN", "TranNum": 1, "Voided": False, "BankFeeID": "STRFEE", "DocTranAmt": -41.27,
         "GroupID": "SB260304", "GLPosted": False}]
    response = method(client, "CreateBankTranRecords", {"ds": ds})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["returnObj"] == 2 and answer["parameters"]["ds"]["BankFundsTransfer"][0]["TranNum"] == 2
    rows = {(row["BankAcctID"], row["TranNum"]): row["DocTranAmt"] for row in rows_of(client)}
    assert rows == {("MAIN", 1): -41.27, ("MAIN", 2): -1958.73, ("OPER", 2): 1958.73}
    back = method(client, "GetByTranNum", {"TranNum": 2}).get_json()["returnObj"]["BankFundsTransfer"][0]
    assert (back["BankAcctID"], back["ToBankAcctID"], back["DocTranAmt"], back["TranRef"]) \
        == ("MAIN", "OPER", 1958.73, PAYOUT)
    assert_error(method(client, "GetByTranNum", {"TranNum": 99}), 404, "Ice.Common.RecordNotFoundException")


def test_transfer_number_is_above_every_number_of_the_company_and_nothing_deduplicates(client):
    created(group(client, "SB260305", BankAcctID="OPER"))
    for _ in range(3):
        created(adjustment(client, GroupID="SB260305", BankAcctID="OPER"))   # OPER 1..3
    ds = transfer_ds(client)
    first = method(client, "CreateBankTranRecords", {"ds": ds}).get_json()["returnObj"]
    again = method(client, "CreateBankTranRecords", {"ds": ds}).get_json()["returnObj"]
    assert (first, again) == (4, 5)
    assert len([row for row in rows_of(client) if row["BankAcctID"] == "OPER" and row["TranNum"] >= 4]) == 2


def test_transfer_in_the_payouts_currency_and_the_reversal_reference(client):
    ds = transfer_ds(client, amount=195873, CurrencyCode="JPY", ToCurrencyCode="JPY")
    assert method(client, "CreateBankTranRecords", {"ds": ds}).status_code == 200
    reverse = transfer(client, source="OPER", target="MAIN", amount=195873, reference=PAYOUT + "-R",
                       CurrencyCode="JPY", ToCurrencyCode="JPY", date="2026-03-09T00:00:00")
    main = client.get("/_sandbox/epicor/bank/MAIN").get_json()
    assert main["balance"] == {"JPY": 0}
    assert [row["TranNum"] for row in main["rows"]] == [1, reverse]
    assert [row["BankAcctID"] for row in rows_of(client, PAYOUT + "-R")] == ["MAIN", "OPER"]


@pytest.mark.parametrize(("step", "body", "field"), [
    ("ChangeFromBank", {"bankAcctID": "NOPE", "isFirstBank": True}, "BankAcctID"),
    ("ChangeFromBank", {"bankAcctID": "RETIRED", "isFirstBank": True}, "BankAcctID"),
    ("ChangeFromBank", {"bankAcctID": "OPER", "isFirstBank": True}, "BankAcctID"),     # the target
    ("ChangeTargetBank", {"toBankAcctID": "RETIRED", "isFirstBank": False}, "ToBankAcctID"),
    ("ChangeTargetBank", {"toBankAcctID": "MAIN", "isFirstBank": False}, "ToBankAcctID"),  # the source
    ("ChangeTranDate", {"tranDate": "2021-06-30T00:00:00", "fromSourceBank": True}, "TranDate"),
    ("ChangeTranDate", {"tranDate": "2031-01-01T00:00:00", "fromSourceBank": True}, "TranDate"),
    ("ChangeFromAmt", {"docTranAmt": 0, "isFirstBank": True}, "DocTranAmt"),
    ("ChangeFromAmt", {"docTranAmt": -5, "isFirstBank": True}, "DocTranAmt"),
    ("ChangeFromAmt", {"docTranAmt": 1.234, "isFirstBank": True}, "DocTranAmt"),
])
def test_transfer_step_rules(client, step, body, field):
    ds = transfer_ds(client)
    assert_error(method(client, step, {**body, "ds": ds}), 400, field=field)


def test_amount_needs_the_source_bank_and_one_currency(client):
    ds = method(client, "CreateBankTran", {}).get_json()["returnObj"]
    assert_error(method(client, "ChangeFromAmt", {"docTranAmt": 10, "ds": ds, "isFirstBank": True}), 400,
                 field="BankAcctID")
    ds = transfer_ds(client)
    ds["BankFundsTransfer"][0]["CurrencyCode"] = "JPY"
    assert_error(method(client, "ChangeFromAmt", {"docTranAmt": 10, "ds": ds, "isFirstBank": True}), 400,
                 field="ToCurrencyCode")
    ds["BankFundsTransfer"][0]["ToCurrencyCode"] = "JPY"
    assert_error(method(client, "ChangeFromAmt", {"docTranAmt": 10.5, "ds": ds, "isFirstBank": True}), 400,
                 field="DocTranAmt")


@pytest.mark.parametrize(("change", "field"), [
    ({"TranRef": "po_" + "x" * 28}, "TranRef"),
    ({"ToBankAcctID": "RETIRED"}, "ToBankAcctID"),
    ({"BankAcctID": "OPER"}, "ToBankAcctID"),
    ({"TranDate": "2021-06-01T00:00:00"}, "TranDate"),
    ({"FiscalPeriod": 4}, "FiscalPeriod"),
    ({"DocTranAmt": 0}, "DocTranAmt"),
    ({"ToCurrencyCode": "EUR"}, "ToCurrencyCode"),
])
def test_create_records_validates_again_and_writes_nothing_when_refused(client, change, field):
    ds = transfer_ds(client)
    ds["BankFundsTransfer"][0].update(change)
    assert_error(method(client, "ValidateBeforeTransfer", {"ds": ds}), 400, field=field)
    assert_error(method(client, "CreateBankTranRecords", {"ds": ds}), 400, field=field)
    assert rows_of(client) == []


@pytest.mark.parametrize("body", [
    {"bankAcctID": "MAIN", "isFirstBank": True},                                  # ds missing
    {"bankAcctID": "MAIN", "ds": "DS", "isFirstBank": True},                      # not a tableset
    {"bankAcctID": "MAIN", "ds": {"BankFundsTransfer": []}, "isFirstBank": True},
    {"bankAcctID": 5, "ds": None, "isFirstBank": True},
    {"bankAcctID": "MAIN", "ds": None, "isFirstBank": "yes"},
    {"BankAcctID": "MAIN", "ds": None, "isFirstBank": True},                      # wrong case
    {"bankAcctID": "MAIN", "ds": None, "isFirstBank": True, "extra": 1},
    {"bankAcctID": "MAIN", "ds": {"BankFundsTransfer": [{"NoSuchField": 1}]}, "isFirstBank": True},
    {"bankAcctID": "MAIN", "ds": {"BankFundsTransfer": [{"TranNum": "0"}]}, "isFirstBank": True},
])
def test_method_parameters_are_strict(client, body):
    ds = method(client, "CreateBankTran", {}).get_json()["returnObj"]
    body = {name: (ds if value is None and name == "ds" else value) for name, value in body.items()}
    assert_error(method(client, "ChangeFromBank", body), 400, API)


def test_method_verbs_routes_and_media_type(client):
    assert_error(get(client, f"{FUND}/CreateBankTran"), 405, API)
    assert_error(get(client, f"{FUND}/UpdateBankTranRecords"), 404, API)
    assert_error(method(client, "GetNewParameters", {}, service="Erp.PROC.BankAdjPostSvc"), 405, API)
    response = client.post(f"{V2}/{FUND}/CreateBankTran", headers=HEADERS, data="{}")
    assert_error(response, 415, API)
    wrong_key = {**HEADERS, "x-api-key": "no"}
    assert client.post(f"{V2}/{FUND}/CreateBankTran", headers=wrong_key, json={}).status_code == 401
    v1 = client.post(f"{V1}/{FUND}/CreateBankTran", headers=HEADERS, json={})
    assert v1.status_code == 200 and v1.get_json()["returnObj"]["BankFundsTransfer"][0]["TranNum"] == 0


def test_method_calls_are_counted_and_a_committed_transfer_can_time_out(client, state):
    state.faults.update({"commit_then_timeout_rate": 1.0, "timeout_seconds": 0})
    transfer(client)
    calls = state.stats.snapshot()["calls"]
    assert calls["POST CreateBankTranRecords"] == 1 and calls["POST ChangeFromBank"] == 1


# ---- the register, cash receipts and idempotent reads --------------------------------------

def test_a_cash_receipt_has_a_row_in_its_bank_found_by_its_check_ref(client):
    customer = created(post(client, "Erp.BO.CustomerSvc/Customers", {"CustID": "ACME", "Name": "Acme"}))
    created(post(client, "Erp.BO.CashGrpSvc/CashGrps", {"GroupID": "SC260304", "BankAcctID": "MAIN",
                                                         "TranDate": DAY}))
    created(post(client, "Erp.BO.CashRecSvc/CashRecs", {
        "GroupID": "SC260304", "TranType": "MisPay", "CustNum": customer["CustNum"], "DocTranAmt": 2000,
        "CheckRef": "ch_1", "ExternalID": "ch_1"}))
    rows = rows_of(client, "ch_1")
    assert [(row["BankAcctID"], row["DocTranAmt"], row["GroupID"]) for row in rows] == [("MAIN", 2000, "SC260304")]
    created(group(client))
    assert created(adjustment(client))["TranNum"] == 2          # after the receipt's row
    transfer(client, amount=1958.73)
    register = client.get("/_sandbox/epicor/bank/MAIN").get_json()
    assert register["balance"] == {"USD": 0}
    assert client.post("/_sandbox/epicor/groups/CashGrps/SC260304/post").status_code == 200
    assert rows_of(client, "ch_1")[0]["GLPosted"] is True


def test_reads_by_tran_ref_find_every_row_of_a_payout_and_only_those(client):
    created(group(client))
    created(adjustment(client))
    created(adjustment(client, BankFeeID="FXFEE", DocTranAmt=-3.1))
    created(adjustment(client, TranRef="po_other"))
    transfer(client)
    rows = rows_of(client)
    assert sorted((row["BankAcctID"], row["BankFeeID"]) for row in rows) == [
        ("MAIN", ""), ("MAIN", "FXFEE"), ("MAIN", "STRFEE"), ("OPER", "")]
    encoded = get(client, f"{ADJ}/BankTrans?$filter=TranRef eq 'po_x%7Cy'")
    assert encoded.status_code == 200 and encoded.get_json()["value"] == []
    children = get(client, f"{ADJ}/BankAdjEntries('EPIC06','SB260304')/BankTrans").get_json()["value"]
    assert len(children) == 3


# ---- posting ------------------------------------------------------------------------------

def test_posting_an_adjustment_group_marks_its_rows_and_removes_it(client):
    created(group(client))
    created(adjustment(client))
    params = client.get(f"{V2}/Erp.PROC.BankAdjPostSvc/GetNewParameters", headers=HEADERS).get_json()["returnObj"]
    params["BankAdjPostParam"][0]["GroupID"] = "SB260304"
    response = method(client, "RunDirect", {"ds": params}, service="Erp.PROC.BankAdjPostSvc")
    assert response.status_code == 200 and response.get_json() == {}
    row = get(client, f"{ADJ}/BankTrans('EPIC06','MAIN',1,false)").get_json()
    assert (row["GLPosted"], row["JournalCode"], row["GroupID"]) == (True, "BK", "SB260304") and row["JournalNum"] > 0
    assert get(client, f"{ADJ}/BankAdjEntries('EPIC06','SB260304')").status_code == 404
    assert_error(adjustment(client), 400, field="GroupID")                     # the group is gone
    url = f"{V2}/{ADJ}/BankTrans('EPIC06','MAIN',1,false)"
    assert_error(client.patch(url, headers=HEADERS, json={"TranRef": "x"}), 400, field="GLPosted")
    assert_error(method(client, "RunDirect", {"ds": params}, service="Erp.PROC.BankAdjPostSvc"), 400, field="GroupID")
    created(group(client))                                                    # the id can be used again
    assert_error(method(client, "RunDirect", {"ds": params}, service="Erp.PROC.BankAdjPostSvc"), 400, field="GroupID")


def test_posting_a_transfer(client):
    number = transfer(client)
    service = "Erp.PROC.BankFundPostSvc"
    params = client.get(f"{V2}/{service}/GetNewParameters", headers=HEADERS).get_json()["returnObj"]
    params["BankFundPostParam"][0].update(TranNum=number, SourceBank="OPER")
    assert_error(method(client, "RunDirect", {"ds": params}, service=service), 400, field="SourceBank")
    params["BankFundPostParam"][0].update(SourceBank="MAIN", TargetBank="OPER")
    assert method(client, "RunDirect", {"ds": params}, service=service).get_json() == {}
    assert all(row["GLPosted"] for row in rows_of(client))
    assert_error(method(client, "RunDirect", {"ds": params}, service=service), 400, field="TranNum")
    params["BankFundPostParam"][0]["TranNum"] = 99
    assert_error(method(client, "RunDirect", {"ds": params}, service=service), 400, field="TranNum")


def test_unknown_bank_register_is_404(client):
    assert client.get("/_sandbox/epicor/bank/NOPE").status_code == 404
