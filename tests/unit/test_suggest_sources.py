"""Where suggestions come from: a flow's declared source shape plus the keys of this site's events, and the
optional provider (an OpenAI-compatible endpoint), which may add and never break anything."""

from __future__ import annotations

import json
import logging

import responses

from tasks.assist import catalogue, provider
from tasks.assist.rank import Source, Suggestion
from tasks.assist.service import with_provider

URL = "https://llm.example.test/v1"


def test_a_flows_sources_are_its_shape_plus_the_sites_metadata_keys():
    site = [{"charge": {"metadata": {"customer_po": "PO-1"}, "billing_details": {"email": "a@b.io"}}}]
    found = {source.path: source for source in catalogue.flow_sources("order_to_cash", site)}
    assert "charge.billing_details.address.postal_code" in found  # declared shape
    assert found["charge.metadata.customer_po"].samples == ("PO-1",)  # seen at this site only
    assert "a@b.io" in found["charge.billing_details.email"].samples


def test_leaves_walk_lists_and_objects():
    assert list(catalogue.leaves({"a": {"b": 1}, "l": [{"c": 2}]})) == [("a.b", 1), ("l[].c", 2)]


def configure(monkeypatch, key="sk-secret-test-key"):
    monkeypatch.setenv("ASSIST_PROVIDER_URL", URL)
    monkeypatch.setenv("ASSIST_PROVIDER_MODEL", "small-model")
    monkeypatch.setenv("ASSIST_PROVIDER_KEY", key)


def answer(content):
    return {"choices": [{"message": {"content": json.dumps(content)}}]}


@responses.activate
def test_the_provider_adds_offered_sources_only_and_sends_the_key_in_the_header(monkeypatch):
    configure(monkeypatch)
    responses.post(f"{URL}/chat/completions", json=answer({"Customer.Zip": ["charge.zip_code", "charge.invented"],
                                                           "Customer.Other": ["charge.zip_code"]}))
    found = with_provider([Suggestion("Customer.Zip")], [Source("charge.zip_code")])
    assert [c.source for c in found[0].candidates] == ["charge.zip_code"]
    assert found[0].candidates[0].reasons == [provider.REASON]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk-secret-test-key"


@responses.activate
def test_a_failing_provider_is_ignored_and_logged_without_the_key(monkeypatch, caplog):
    configure(monkeypatch)
    responses.post(f"{URL}/chat/completions", status=500, body="sk-secret-test-key leaked in an error page")
    with caplog.at_level(logging.WARNING):
        assert provider.picks(["charge.zip"], ["Customer.Zip"]) == {}
    assert "ignored" in caplog.text and "sk-secret-test-key" not in caplog.text


@responses.activate
def test_a_provider_answer_that_is_not_the_json_asked_for_is_ignored(monkeypatch):
    configure(monkeypatch)
    responses.post(f"{URL}/chat/completions", json={"choices": [{"message": {"content": "Zip is postal_code"}}]})
    assert provider.picks(["charge.zip"], ["Customer.Zip"]) == {}


def test_without_a_provider_nothing_is_called(monkeypatch):
    monkeypatch.delenv("ASSIST_PROVIDER_URL", raising=False)
    assert provider.picks(["charge.zip"], ["Customer.Zip"]) == {} and not provider.configured()


@responses.activate
def test_the_key_may_come_from_a_file(monkeypatch, tmp_path):
    configure(monkeypatch, key="")
    (tmp_path / "key").write_text("sk-from-file\n")
    monkeypatch.setenv("ASSIST_PROVIDER_KEY_FILE", str(tmp_path / "key"))
    responses.post(f"{URL}/chat/completions", json=answer({}))
    provider.picks(["charge.zip"], ["Customer.Zip"])
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk-from-file"
