"""The Epicor connector against the contract's wire format (HTTP intercepted with `responses`)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
import responses

from tasks.connectors.epicor import EpicorClient, EpicorError, EpicorUnavailable, eq_filter
from tasks.errors import PermanentError, RetryableError
from tasks.settings import load_settings

BASE = "https://erp.example.com/KineticLive"
V2 = f"{BASE}/api/v2/odata/EPIC06"


def error_body(status: int, message: str, error_type: str = "Ice.BLException") -> dict:
    return {"HttpStatus": status, "ReasonPhrase": "REST API Exception", "ErrorMessage": message,
            "ErrorType": error_type, "ErrorDetails": [], "CorrelationId": "0f6c2d3e"}


@pytest.fixture()
def settings(monkeypatch):
    monkeypatch.setenv("EPICOR_BASE_URL", BASE + "/")
    monkeypatch.setenv("EPICOR_USERNAME", "integration")
    monkeypatch.setenv("EPICOR_PASSWORD", "s3cret")
    monkeypatch.setenv("EPICOR_API_KEY", "key-123")
    return load_settings()


@responses.activate
def test_v2_query_sends_auth_headers_and_filter(settings):
    responses.get(f"{V2}/Erp.BO.CustomerSvc/Customers", json={"@odata.context": "x", "value": [{"CustNum": 201}]})
    row = EpicorClient(settings).find_one("Erp.BO.CustomerSvc", "Customers", ExternalID="cus_O'Brien")
    assert row == {"CustNum": 201}
    request = responses.calls[0].request
    assert request.headers["x-api-key"] == "key-123"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"integration:s3cret").decode()
    assert "%24filter=ExternalID+eq+%27cus_O%27%27Brien%27" in request.url
    assert "%24top=1" in request.url


@responses.activate
def test_v1_uses_call_settings_and_no_company_in_path(settings):
    responses.get(f"{BASE}/api/v1/Erp.BO.PartSvc/Parts('EPIC06','WIDGET-100')", json={"PartNum": "WIDGET-100"})
    client = EpicorClient(replace(settings, epicor_api_version="v1"))
    assert client.get("Erp.BO.PartSvc", "Parts", "WIDGET-100") == {"PartNum": "WIDGET-100"}
    headers = responses.calls[0].request.headers
    assert json.loads(headers["CallSettings"]) == {"Company": "EPIC06"}
    assert "x-api-key" not in headers


@responses.activate
def test_key_segment_quotes_strings_and_keeps_ints_bare(settings):
    responses.get(f"{V2}/Erp.BO.CashRecSvc/CashRecs('EPIC06','SC260304',7)", json={"HeadNum": 7})
    assert EpicorClient(settings).get("Erp.BO.CashRecSvc", "CashRecs", "SC260304", 7) == {"HeadNum": 7}


@responses.activate
def test_get_missing_row_is_none(settings):
    responses.get(f"{V2}/Erp.BO.PartSvc/Parts('EPIC06','NOPE')", status=404,
                  json=error_body(404, "Record not found", "Ice.Common.RecordNotFoundException"))
    assert EpicorClient(settings).get("Erp.BO.PartSvc", "Parts", "NOPE") is None


@responses.activate
def test_query_pages_with_top_and_skip_until_a_short_page(settings):
    url = f"{V2}/Erp.BO.SalesOrderSvc/OrderDtls"
    responses.get(url, json={"value": [{"OrderLine": n} for n in range(100)]})
    responses.get(url, json={"value": [{"OrderLine": 100}]})
    rows = EpicorClient(settings).query("Erp.BO.SalesOrderSvc", "OrderDtls", eq_filter(OrderNum=5001))
    assert len(rows) == 101
    assert "%24skip=100" in responses.calls[1].request.url


@responses.activate
def test_business_rule_is_permanent_and_keeps_epicor_message(settings):
    responses.post(f"{V2}/Erp.BO.SalesOrderSvc/SalesOrders", status=400,
                   json=error_body(400, "Customer 999 is not valid."))
    with pytest.raises(EpicorError) as caught:
        EpicorClient(settings).create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 999})
    assert isinstance(caught.value, PermanentError)
    assert caught.value.message == "Customer 999 is not valid."
    assert caught.value.reason == "epicor.business_rule"


@responses.activate
def test_licence_exhaustion_is_retryable_with_long_backoff_and_not_retried_inline(settings):
    url = f"{V2}/Erp.BO.CustomerSvc/Customers"
    responses.get(url, status=400, json=error_body(400, "Maximum users exceeded", "Ice.Common.LicenseAccessException"))
    with pytest.raises(EpicorUnavailable) as caught:
        EpicorClient(settings).query("Erp.BO.CustomerSvc", "Customers", "CustNum eq 1")
    assert caught.value.reason == "epicor.licence_exhausted" and caught.value.retry_after >= 30
    assert len(responses.calls) == 1


@responses.activate
def test_server_errors_on_reads_are_retried_inline_then_raised(settings):
    url = f"{V2}/Erp.BO.CustomerSvc/Customers"
    responses.get(url, status=503, json=error_body(503, "down"))
    responses.get(url, status=503, json=error_body(503, "down"))
    responses.get(url, json={"value": [{"CustNum": 5}]})
    assert EpicorClient(settings).query("Erp.BO.CustomerSvc", "Customers", "CustNum eq 5") == [{"CustNum": 5}]
    assert len(responses.calls) == 3


@responses.activate
def test_create_is_never_resent_blindly(settings):
    responses.post(f"{V2}/Erp.BO.SalesOrderSvc/SalesOrders", status=500, json=error_body(500, "boom"))
    with pytest.raises(RetryableError):
        EpicorClient(settings).create("Erp.BO.SalesOrderSvc", "SalesOrders", {"CustNum": 1})
    assert len(responses.calls) == 1


@responses.activate
def test_ensure_treats_409_as_already_there(settings):
    url = f"{V2}/Erp.BO.InvcGrpSvc/InvcGrps"
    responses.post(url, status=409, json=error_body(409, "Duplicate", "Ice.Common.DuplicateRecordException"))
    responses.get(url, json={"value": [{"GroupID": "SI260304"}]})
    row, created = EpicorClient(settings).ensure("Erp.BO.InvcGrpSvc", "InvcGrps", {"GroupID": "SI260304"},
                                                 {"GroupID": "SI260304"}, known_absent=True)
    assert row == {"GroupID": "SI260304"} and created is False


@responses.activate
def test_ensure_looks_up_before_creating(settings):
    url = f"{V2}/Erp.BO.ARInvoiceSvc/ARInvoices"
    responses.get(url, json={"value": [{"InvoiceNum": 70001}]})
    row, created = EpicorClient(settings).ensure("Erp.BO.ARInvoiceSvc", "ARInvoices", {"ExternalID": "ch_1"}, {})
    assert row["InvoiceNum"] == 70001 and not created
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_credentials_refused_is_permanent(settings):
    responses.get(f"{V2}/Erp.BO.PartSvc/Parts('EPIC06','X')", status=401, json=error_body(401, "Invalid user"))
    with pytest.raises(EpicorError) as caught:
        EpicorClient(settings).get("Erp.BO.PartSvc", "Parts", "X")
    assert caught.value.reason == "epicor.auth"


def test_decimal_bodies_are_json_numbers(settings):
    from tasks.connectors.epicor import _dumps

    assert _dumps({"DocUnitPrice": 12.5, "CustNum": 201}) == '{"DocUnitPrice":12.5,"CustNum":201}'


def test_plain_http_is_refused_unless_allowed(settings):
    from tasks.settings import ConfigError

    with pytest.raises(ConfigError):
        EpicorClient(replace(settings, epicor_base_url="http://erp.local/Live"))


# -- the session: environment read once for the Epicor host, TLS on by default ----------------------
PROXY = "http://proxy.corp:3128"


@pytest.fixture()
def environment(monkeypatch):
    """No proxy or CA bundle variables but those a test sets."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def sent_with(settings) -> dict:
    """The transport settings of one GET made by a client built from ``settings``."""
    client = EpicorClient(settings)
    responses.get(f"{V2}/Erp.BO.PartSvc/Parts('EPIC06','X')", json={"PartNum": "X"})
    client.get("Erp.BO.PartSvc", "Parts", "X")
    return responses.calls[-1].request.req_kwargs


@responses.activate
def test_the_environment_proxy_is_used_for_epicor_and_read_once(settings, environment):
    environment.setenv("HTTPS_PROXY", PROXY)
    environment.setenv("NO_PROXY", "localhost,api.stripe.com")
    client = EpicorClient(settings)
    environment.delenv("HTTPS_PROXY")
    responses.get(f"{V2}/Erp.BO.PartSvc/Parts('EPIC06','X')", json={"PartNum": "X"})
    client.get("Erp.BO.PartSvc", "Parts", "X")
    assert client.session.trust_env is False
    assert responses.calls[0].request.req_kwargs["proxies"]["https"] == PROXY


@responses.activate
def test_no_proxy_naming_the_epicor_host_goes_direct(settings, environment):
    environment.setenv("HTTPS_PROXY", PROXY)
    environment.setenv("NO_PROXY", ".example.com")
    assert "https" not in sent_with(settings)["proxies"]


@responses.activate
def test_tls_is_verified_by_default_with_the_environment_ca_bundle(settings, environment):
    assert sent_with(settings)["verify"] is True
    environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    assert sent_with(settings)["verify"] == "/etc/ssl/corp.pem"


@responses.activate
def test_verification_switched_off_in_settings_stays_off_whatever_the_environment(settings, environment):
    environment.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    assert sent_with(replace(settings, epicor_verify_tls=False))["verify"] is False


def test_plain_http_is_accepted_when_allowed(settings):
    client = EpicorClient(replace(settings, epicor_base_url="http://127.0.0.1:8100/KineticSandbox",
                                  epicor_allow_http=True))
    assert client.url("Erp.BO.PartSvc", "Parts").startswith("http://127.0.0.1:8100/KineticSandbox/api/v2/")


@responses.activate
def test_writes_send_compact_json_and_reads_send_no_content_type(settings):
    url = f"{V2}/Erp.BO.CustomerSvc/Customers"
    responses.post(url, json={"CustNum": 201})
    responses.patch(f"{url}('EPIC06',201)", status=204)
    responses.get(f"{url}('EPIC06',201)", json={"CustNum": 201})
    client = EpicorClient(settings)
    client.create("Erp.BO.CustomerSvc", "Customers", {"Name": "Zoé", "CreditLimit": 12.5})
    client.update("Erp.BO.CustomerSvc", "Customers", [201], {"Name": "Zoe"})
    client.get("Erp.BO.CustomerSvc", "Customers", 201)
    create, update, read = (call.request for call in responses.calls)
    assert create.body in ('{"Name":"Zo\\u00e9","CreditLimit":12.5}', b'{"Name":"Zo\\u00e9","CreditLimit":12.5}')
    assert create.headers["Content-Type"] == update.headers["Content-Type"] == "application/json"
    assert update.method == "PATCH" and "Content-Type" not in read.headers
    assert read.headers["x-api-key"] == create.headers["x-api-key"] == "key-123"
