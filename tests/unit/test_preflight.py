"""The start-up check (``tasks.preflight``), how a configuration fault is classified, and ``/readyz``.

The check reads the environment and the mapping files only; the recorded fault lives in the test's
own Redis database (``TEST_REDIS_URL``), as the web reads it.
"""

from __future__ import annotations

import shutil

import pytest
import redis
import requests

from tasks import api, preflight
from tasks.errors import MappingError, PermanentError, RetryableError, classify
from tasks.settings import REPO_ROOT, ConfigError, url_problem


@pytest.fixture()
def good_env(monkeypatch):
    for name, value in {"EPICOR_BASE_URL": "https://erp.example.com/KineticLive", "EPICOR_USERNAME": "integration",
                        "EPICOR_PASSWORD": "pw", "EPICOR_API_KEY": "key", "STRIPE_API_KEY": "sk_test_unit",
                        "MAPPINGS_DIR": str(REPO_ROOT / "mappings")}.items():
        monkeypatch.setenv(name, value)
    for name in ("EPICOR_ALLOW_HTTP", "STRIPE_API_BASE", "RETRY_MAX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def fault_db():
    client = redis.Redis.from_url(preflight.env_value("REDIS_URL"), decode_responses=True)
    client.delete(preflight.FAULT_KEY)
    yield client
    client.delete(preflight.FAULT_KEY)


def test_a_complete_configuration_has_no_problem(good_env):
    assert preflight.configuration_problems("worker") == []
    assert preflight.configuration_problems("web") == []


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("EPICOR_BASE_URL", "http://erp.example.com/KineticLive", "EPICOR_BASE_URL uses plain http"),
    ("EPICOR_BASE_URL", "erp.example.com/KineticLive", "EPICOR_BASE_URL must be an http(s) address"),
    ("EPICOR_PASSWORD", "", "EPICOR_PASSWORD not set"),
    ("STRIPE_API_KEY", "", "STRIPE_API_KEY is not set"),
    ("STRIPE_API_KEY", "pk_live_publishable", "STRIPE_API_KEY is not a secret or restricted key"),
    ("STRIPE_API_BASE", "localhost:8100", "STRIPE_API_BASE must be an http(s) address"),
    ("EPICOR_API_VERSION", "v3", "EPICOR_API_VERSION must be v1 or v2"),
    ("RETRY_MAX", "-1", "needs RETRY_MAX >= 0"),
    ("MAPPINGS_DIR", "/nonexistent/mappings", "is not a directory"),
])
def test_each_fault_is_one_line_naming_the_setting(good_env, monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    problems = preflight.configuration_problems("worker")
    assert len(problems) == 1 and expected in problems[0], problems
    assert "pk_live_publishable" not in problems[0]


def test_a_mapping_file_that_fails_validation_is_named_with_its_key(good_env, monkeypatch, tmp_path):
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    parts = tmp_path / "mappings" / "parts.yaml"
    parts.write_text(parts.read_text().replace("default_part:", "default_prat:"))
    monkeypatch.setenv("MAPPINGS_DIR", str(tmp_path / "mappings"))
    [problem] = preflight.configuration_problems("worker")
    assert "parts.yaml" in problem and "default_prat" in problem and "default_part" in problem


def test_the_web_also_needs_a_webhook_secret(good_env, monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    assert preflight.configuration_problems("worker") == []
    assert preflight.configuration_problems("web") == ["STRIPE_WEBHOOK_SECRET is not set: every Stripe delivery "
                                                       "would be refused"]


def test_enforce_exits_78_and_records_the_reason_then_a_healthy_start_clears_it(good_env, monkeypatch, fault_db):
    monkeypatch.setenv("EPICOR_BASE_URL", "http://erp.example.com/KineticLive")
    with pytest.raises(SystemExit) as stopped:
        preflight.enforce("worker")
    assert stopped.value.code == preflight.EXIT_CONFIG
    assert "plain http" in preflight.recorded_faults()["worker"]["reason"]
    monkeypatch.setenv("EPICOR_ALLOW_HTTP", "true")
    preflight.enforce("worker")
    assert preflight.recorded_faults() == {}


# -- classification ------------------------------------------------------------------------------------
@pytest.mark.parametrize("exc", [
    ConfigError("EPICOR_USERNAME not set"),
    requests.exceptions.MissingSchema("Invalid URL 'erp/api': No scheme supplied"),
    requests.exceptions.InvalidURL("Failed to parse"),
    MappingError("mappings/parts.yaml: default_prat: Unknown field.", reason="mapping.config"),
])
def test_an_operators_fault_at_run_time_is_config_invalid_and_retried(exc):
    failure = classify(exc)
    assert isinstance(failure, RetryableError) and failure.reason == "config.invalid"
    assert "restart the worker" in failure.message


def test_other_mapping_errors_and_unknown_errors_keep_their_classes():
    assert classify(MappingError("no part for prod_1", reason="mapping.unknown_part")).reason == "mapping.unknown_part"
    unknown = classify(ZeroDivisionError("x"))
    assert isinstance(unknown, PermanentError) and unknown.reason == "internal.unexpected"


def test_url_problem():
    assert url_problem("X", "https://erp.example.com/Live") is None
    assert url_problem("X", "ftp://erp.example.com") is not None
    assert url_problem("X", "https://erp.example.com/Live?x=1") == "X must not carry a query or fragment"


# -- /readyz -------------------------------------------------------------------------------------------
@pytest.fixture()
def readyz(good_env, monkeypatch, fault_db):
    from app import create_app

    monkeypatch.setattr(api, "_config_check", {"at": -api.CONFIG_CHECK_SECONDS, "problems": []})
    return lambda: create_app().test_client().get("/readyz")


def test_readyz_is_ready_with_a_good_configuration(readyz):
    response = readyz()
    assert response.status_code == 200 and response.get_json()["status"] == "ready"


def test_readyz_answers_503_with_a_workers_recorded_fault(readyz):
    preflight.record_fault("worker", ["EPICOR_BASE_URL uses plain http"])
    response = readyz()
    assert response.status_code == 503
    assert response.get_json()["configuration"] == {"worker": "EPICOR_BASE_URL uses plain http"}


def test_readyz_answers_503_with_the_webs_own_fault(readyz, monkeypatch):
    monkeypatch.setenv("EPICOR_USERNAME", "")
    response = readyz()
    assert response.status_code == 503
    assert response.get_json()["configuration"] == {"web": "EPICOR_USERNAME not set"}
