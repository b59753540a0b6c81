"""PinnedSession: the environment is read once for its host, and its lean request path sends what requests would."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses
from requests.adapters import BaseAdapter

from tasks.connectors.http import PinnedSession, tls_verification

BASE = "https://erp.example.com/KineticLive"
PROXY = "http://proxy.corp:3128"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class RecordingAdapter(BaseAdapter):
    """Answers 200 to everything and keeps each prepared request with the settings it was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def, override]
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code, response.request, response.url = 200, request, request.url
        response._content = b"{}"
        return response

    def close(self) -> None:
        pass


def recorded(session: requests.Session) -> RecordingAdapter:
    adapter = RecordingAdapter()
    session.mount("https://", adapter)
    return adapter


def test_proxy_for_the_host_is_read_once_and_kept(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    session = PinnedSession(BASE)
    monkeypatch.delenv("HTTPS_PROXY")  # later changes to the environment are not read per call
    adapter = recorded(session)
    session.request("GET", f"{BASE}/api/v2/odata/EPIC06/Erp.BO.PartSvc/Parts")
    assert session.trust_env is False
    assert adapter.sent[0][1]["proxies"]["https"] == PROXY


@pytest.mark.parametrize("no_proxy", ["erp.example.com", ".example.com", "*"])
def test_no_proxy_for_the_host_means_a_direct_connection(monkeypatch, no_proxy):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    adapter = recorded(session := PinnedSession(BASE))
    session.request("GET", f"{BASE}/x")
    assert "https" not in adapter.sent[0][1]["proxies"]


def test_no_proxy_for_another_host_keeps_the_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "localhost,api.stripe.com")
    assert PinnedSession(BASE).proxies["https"] == PROXY


def test_ca_bundle_from_the_environment_unless_verification_is_switched_off(monkeypatch):
    assert tls_verification(True) is True
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert PinnedSession(BASE).verify == "/etc/ssl/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    assert PinnedSession(BASE).verify == "/etc/ssl/corp.pem"
    assert PinnedSession(BASE, verify=False).verify is False


def test_netrc_never_replaces_our_credentials(monkeypatch, tmp_path):
    (tmp_path / ".netrc").write_text("machine erp.example.com login intruder password x\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    adapter = recorded(session := PinnedSession(BASE))
    session.request("GET", f"{BASE}/x", headers={"Authorization": "Basic ours"})
    assert adapter.sent[0][0].headers["Authorization"] == "Basic ours"


CALLS: list[dict[str, Any]] = [
    {"method": "get", "url": f"{BASE}/Parts", "params": "%24filter=PartNum+eq+%27A%27&%24top=1"},
    {"method": "GET", "url": f"{BASE}/Parts", "params": {"$filter": "PartNum eq 'A'", "$top": "1"}},
    {"method": "POST", "url": f"{BASE}/Customers", "data": '{"Name":"Zo\\u00e9"}',
     "headers": {"Content-Type": "application/json"}},
    {"method": "post", "url": f"{BASE}/v1/charges/ch_1", "data": "metadata[a]=1", "timeout": 20,
     "verify": "/stripe/ca.pem", "headers": {"Authorization": "Bearer sk", "User-Agent": "Stripe/v1",
                                              "Accept": None}},
    {"method": "PATCH", "url": f"{BASE}/x", "data": b"{}", "stream": True, "proxies": {"https": "http://other:1"}},
]


@pytest.mark.parametrize("call", CALLS, ids=lambda call: f"{call['method']}-{sorted(call)}")
def test_lean_path_sends_what_session_request_sends(call):
    """Same method, URL, headers (cookies included), body and send settings as the stock path."""
    sessions = []
    for session in (PinnedSession(BASE), requests.Session()):
        session.trust_env = False
        session.verify = "/etc/ssl/corp.pem"
        session.proxies["https"] = PROXY
        session.headers["x-api-key"] = "key-123"
        session.cookies.set("ARRAffinity", "node-7", domain="erp.example.com", path="/")
        sessions.append((session, recorded(session)))
    for session, _ in sessions:
        session.request(**call)
    (lean, lean_kwargs), (stock, stock_kwargs) = (adapter.sent[0] for _, adapter in sessions)
    assert (lean.method, lean.url, lean.body) == (stock.method, stock.url, stock.body)
    assert dict(lean.headers) == dict(stock.headers)
    assert "ARRAffinity=node-7" in lean.headers["Cookie"]
    assert lean_kwargs == stock_kwargs


def test_calls_with_auth_or_json_take_the_stock_path():
    adapter = recorded(session := PinnedSession(BASE))
    session.request("POST", f"{BASE}/x", auth=("integration", "pw"), json={"a": 1})
    request = adapter.sent[0][0]
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.body == b'{"a": 1}'


@responses.activate
def test_cookies_set_by_the_server_go_back_on_the_next_call():
    responses.get(f"{BASE}/first", headers={"Set-Cookie": "ARRAffinity=node-3; Path=/"})
    responses.get(f"{BASE}/second")
    session = PinnedSession(BASE)
    session.request("GET", f"{BASE}/first")
    session.request("GET", f"{BASE}/second")
    assert responses.calls[1].request.headers["Cookie"] == "ARRAffinity=node-3"
