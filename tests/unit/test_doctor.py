"""The pre-flight ``doctor``: each check passes on a good set-up and fails with its fix on a bad one.

Stripe and Epicor are intercepted with ``responses`` at the HTTP boundary; the checks run through the
real connectors, the real mapping files and the reference catalogue.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
import responses
from click.testing import CliRunner

import celery_commands
from tasks import doctor as doc
from tasks.mapping.tables import load_mappings
from tasks.settings import REPO_ROOT, load_settings
from tests.unit.conftest import STRIPE_API

EPICOR = "https://erp.example.com/KineticLive"
V2 = f"{EPICOR}/api/v2/odata/EPIC06"
HOOK = "https://connector.example.com/webhooks/stripe"


@pytest.fixture()
def checkup(monkeypatch) -> doc.Doctor:
    for name, value in {"EPICOR_BASE_URL": EPICOR, "EPICOR_USERNAME": "integration", "EPICOR_PASSWORD": "pw",
                        "EPICOR_API_KEY": "key", "STRIPE_API_KEY": "sk_test_unit", "STRIPE_API_BASE": STRIPE_API,
                        "STRIPE_MAX_NETWORK_RETRIES": "0", "EPICOR_TIMEOUT": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    return doc.Doctor(url=HOOK, settings=load_settings(), mappings=load_mappings(REPO_ROOT / "mappings"))


def epicor_row_urls(checkup: doc.Doctor) -> list[str]:
    return [f"{V2}/{code.service}/{code.entity_set}(" + ",".join(f"'{k}'" for k in ("EPIC06", *code.keys)) + ")"
            for code in doc.named_codes(checkup.mappings)]


def serve_epicor(checkup: doc.Doctor, *, missing: tuple[str, ...] = (), rows: dict[str, dict] | None = None) -> None:
    responses.get(f"{V2}/Erp.BO.CompanySvc/Companies('EPIC06')", json={"Company1": "EPIC06", "BaseCurrCode": "USD"})
    for url in epicor_row_urls(checkup):
        if any(url.endswith(f"'{code}')") for code in missing):
            responses.get(url, status=404, json={"HttpStatus": 404, "ErrorMessage": "Record not found.",
                                                 "ErrorType": "Ice.Common.RecordNotFoundException"})
        else:
            extra = next((row for code, row in (rows or {}).items() if url.endswith(f"'{code}')")), {})
            responses.get(url, json={"Company": "EPIC06", **extra})
    responses.get(f"{V2}/Erp.BO.CustomerSvc/Customers", json={"value": []})
    # mappings/payouts.yaml: the operating bank and the Bank Fee IDs (tasks.doctor.check_payout_codes)
    fees = [f"Erp.BO.BankFeeSvc/BankFees('EPIC06','{fee}')" for fee in ("STRFEE", "DISPFEE", "FXFEE", "OTHFEE")]
    for url in ("Erp.BO.BankAcctSvc/BankAccts('EPIC06','OPER')", *fees):
        responses.get(f"{V2}/{url}", json={"Company": "EPIC06"})


def failures(checkup: doc.Doctor) -> list[doc.Check]:
    return [check for check in checkup.results if check.status == doc.FAIL]


# -- Epicor ------------------------------------------------------------------------------------------
@responses.activate
def test_epicor_passes_when_the_company_and_every_mapped_code_exist(checkup):
    serve_epicor(checkup)
    doc.check_epicor(checkup)
    assert failures(checkup) == []
    assert [c.name for c in checkup.results if c.status == doc.PASS] == ["Epicor", "Epicor company",
                                                                         "Epicor payout codes", "Epicor codes"]
    catch_all = checkup.results[-1]
    assert catch_all.status == doc.INFO and "creates it" in catch_all.detail


@responses.activate
def test_a_missing_part_reason_code_and_bank_account_each_fail_with_the_mapping_key_and_the_screen(checkup):
    serve_epicor(checkup, missing=("STRIPE-SALE", "OTHER", "MAIN"))
    doc.check_epicor(checkup)
    failed = {check.name: check for check in failures(checkup)}
    assert set(failed) == {"Epicor part", "Epicor reason code", "Epicor bank account"}
    assert "STRIPE-SALE" in failed["Epicor part"].detail
    assert "Part Maintenance" in failed["Epicor part"].fix
    assert "parts.yaml key default_part" in failed["Epicor part"].fix
    assert "Reason Maintenance (type A" in failed["Epicor reason code"].fix
    assert "reasons.yaml key refunds.default" in failed["Epicor reason code"].fix
    assert "Bank Account Maintenance" in failed["Epicor bank account"].fix
    assert "defaults.yaml key bank_account" in failed["Epicor bank account"].fix


@responses.activate
def test_reason_codes_are_looked_up_with_the_mapped_reason_type(checkup):
    serve_epicor(checkup)
    doc.check_epicor(checkup)
    asked = [call.request.url for call in responses.calls]
    assert any("Reasons('EPIC06','A','DISPLOST')" in url for url in asked)


@responses.activate
def test_a_closed_bank_account_fails(checkup):
    serve_epicor(checkup, rows={"MAIN": {"Closed": True}})
    doc.check_epicor(checkup)
    [failed] = failures(checkup)
    assert failed.name == "Epicor bank account" and failed.detail == "Bank account 'MAIN' is closed"


@responses.activate
def test_refused_credentials_fail_naming_the_settings_and_skip_the_codes(checkup):
    responses.get(f"{V2}/Erp.BO.CompanySvc/Companies('EPIC06')", status=401,
                  json={"HttpStatus": 401, "ErrorMessage": "Invalid user ID or password."})
    doc.check_epicor(checkup)
    [failed] = checkup.results
    assert failed.status == doc.FAIL and "EPICOR_PASSWORD" in failed.fix
    assert "pw" not in failed.detail + failed.fix


@responses.activate
def test_a_company_the_user_cannot_use_fails_on_the_company(checkup):
    responses.get(f"{V2}/Erp.BO.CompanySvc/Companies('EPIC06')", status=400,
                  json={"HttpStatus": 400, "ErrorMessage": "Company EPIC06 is not valid.",
                        "ErrorType": "Ice.BLException"})
    doc.check_epicor(checkup)
    [failed] = checkup.results
    assert failed.name == "Epicor company" and "EPICOR_COMPANY" in failed.fix


@responses.activate
def test_a_missing_company_row_fails(checkup):
    responses.get(f"{V2}/Erp.BO.CompanySvc/Companies('EPIC06')", status=404, json={"HttpStatus": 404})
    doc.check_epicor(checkup)
    assert [(c.name, c.status) for c in checkup.results] == [("Epicor", doc.PASS), ("Epicor company", doc.FAIL)]


def test_an_unreachable_epicor_fails_with_the_address_to_check(checkup, monkeypatch):
    monkeypatch.setenv("EPICOR_BASE_URL", "https://127.0.0.1:1/KineticLive")
    checkup.settings = load_settings()
    doc.check_epicor(checkup)
    [failed] = checkup.results
    assert failed.status == doc.FAIL and "EPICOR_BASE_URL" in failed.fix


# -- Stripe ------------------------------------------------------------------------------------------
def endpoint(**fields: object) -> dict:
    return {"id": "we_1", "object": "webhook_endpoint", "url": HOOK, "status": "enabled", "enabled_events": ["*"],
            "api_version": None, **fields}


def serve_stripe(*endpoints: dict, events: list[dict] | None = None) -> None:
    responses.get(f"{STRIPE_API}/v1/account", json={"id": "acct_1", "object": "account"})
    responses.get(f"{STRIPE_API}/v1/webhook_endpoints", json={"object": "list", "data": list(endpoints),
                                                                "has_more": False})
    responses.get(f"{STRIPE_API}/v1/events", json={"object": "list", "data": events or [], "has_more": False})


@responses.activate
def test_an_endpoint_for_every_event_passes_and_the_account_default_version_is_reported(checkup):
    serve_stripe(endpoint(), events=[{"id": "evt_1", "api_version": "2025-03-31.basil"}])
    doc.check_stripe(checkup)
    assert failures(checkup) == []
    assert checkup.results[-1].detail == "events arrive in the account's default, 2025-03-31.basil"


@responses.activate
def test_an_endpoint_missing_event_types_fails_naming_them(checkup):
    handled = doc.handled_event_types()
    serve_stripe(endpoint(enabled_events=[t for t in handled if t not in ("refund.created", "payout.paid")],
                          api_version="2024-06-20"))
    doc.check_stripe(checkup)
    [failed] = failures(checkup)
    assert failed.detail.endswith("does not send payout.paid, refund.created")
    assert checkup.results[-1].detail == "the endpoint sends events in 2024-06-20"


@responses.activate
def test_a_disabled_endpoint_or_one_for_another_address_fails(checkup):
    serve_stripe(endpoint(status="disabled"), endpoint(id="we_2", url="https://elsewhere.example/hook"))
    doc.check_stripe(checkup)
    assert [c.detail for c in failures(checkup)] == [f"endpoint we_1 ({HOOK}) is disabled"]
    checkup.results.clear()
    checkup.url = "https://connector.example.com/other"
    doc.check_stripe(checkup)
    [failed] = failures(checkup)
    assert failed.detail.startswith("no endpoint sends to https://connector.example.com/other (2 endpoints)")
    assert "charge.succeeded" in failed.fix


@responses.activate
def test_the_address_comes_from_public_url_when_not_given(checkup, monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://connector.example.com/")
    checkup.url = None
    assert doc.target_url(checkup) == HOOK
    monkeypatch.delenv("PUBLIC_URL")
    serve_stripe(endpoint())
    doc.check_stripe(checkup)
    assert "PUBLIC_URL" in failures(checkup)[0].fix


@responses.activate
def test_a_refused_stripe_key_fails_without_showing_it(checkup):
    responses.get(f"{STRIPE_API}/v1/account", status=401,
                  json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***"}})
    doc.check_stripe(checkup)
    [failed] = checkup.results
    assert failed.name == "Stripe API key" and failed.status == doc.FAIL and "sk_test_unit" not in failed.detail


# -- configuration, Redis, the command ---------------------------------------------------------------
def test_configuration_failures_are_the_workers_own(checkup, monkeypatch):
    monkeypatch.setenv("EPICOR_BASE_URL", "http://erp.example.com/KineticLive")
    monkeypatch.delenv("EPICOR_ALLOW_HTTP", raising=False)
    checkup = doc.Doctor()
    doc.check_configuration(checkup)
    assert any("plain http" in c.detail for c in failures(checkup))


def test_redis_urls_are_shown_without_their_password():
    assert doc.redacted("redis://:hunter2@redis.internal:6380/2") == "redis://redis.internal:6380/2"


def test_a_check_that_crashes_is_a_failure_and_the_others_still_run(monkeypatch):
    def broken(_: doc.Doctor) -> None:
        raise KeyError("boom")

    def fine(checkup: doc.Doctor) -> None:
        checkup.add("Fine", doc.PASS, "ok")

    monkeypatch.setattr(doc, "CHECKS", (broken, fine))
    result = doc.run()
    assert [(c.name, c.status) for c in result.results] == [("Broken", doc.FAIL), ("Fine", doc.PASS)]
    assert not result.ok


@pytest.mark.parametrize(("status", "exit_code"), [(doc.PASS, 0), (doc.INFO, 0), (doc.FAIL, 1)])
def test_the_command_exits_non_zero_on_any_failure_and_prints_json(monkeypatch, status, exit_code):
    monkeypatch.setattr(doc, "CHECKS", (lambda checkup: checkup.add("Thing", status, "found", "do this"),))
    root = click.Group("celery", commands={"doctor": celery_commands.doctor})
    result = CliRunner().invoke(root, ["doctor", "--json"])
    assert result.exit_code == exit_code, result.output
    assert json.loads(result.output) == {"ok": exit_code == 0, "checks": [
        {"name": "Thing", "status": status, "detail": "found", "fix": "do this"}]}
    text = CliRunner().invoke(root, ["doctor"]).output
    assert "Thing: found" in text and ("fix: do this" in text) and text.rstrip().endswith(
        "ready to go live." if exit_code == 0 else "1 check(s) failed.")


def test_celery_lists_doctor_without_importing_tasks():
    code = ("import sys; from celery.bin.celery import celery; "
            "print(celery.commands['doctor'].get_short_help_str(80)); "
            "print(any(m == 'tasks' or m.startswith('tasks.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    short_help, imported = out.strip().splitlines()
    assert short_help.startswith("Pre-flight check") and imported == "False"


@responses.activate
def test_a_missing_payout_fee_id_or_operating_bank_fails_with_what_to_create(checkup):
    serve_epicor(checkup)
    responses.replace(responses.GET, f"{V2}/Erp.BO.BankFeeSvc/BankFees('EPIC06','FXFEE')", status=404,
                      json={"HttpStatus": 404, "ErrorMessage": "Record not found.",
                            "ErrorType": "Ice.Common.RecordNotFoundException"})
    responses.replace(responses.GET, f"{V2}/Erp.BO.BankAcctSvc/BankAccts('EPIC06','OPER')",
                      json={"Company": "EPIC06", "Closed": True})
    doc.check_epicor(checkup)
    assert sorted(check.detail for check in failures(checkup)) == [
        "Bank Fee ID FXFEE (currency_conversion fees) is missing", "bank account OPER is closed"]
