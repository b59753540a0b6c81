"""Integration pairs (``tasks.pairs``): PAIRS_FILE read and refused, Connect routing, the start-up check."""

from __future__ import annotations

import textwrap

import pytest

from tasks import pairs, preflight
from tasks.settings import REPO_ROOT, ConfigError, load_settings

GOOD = """
pairs:
  emea:
    stripe:
      account: acct_1EmeaPlatform
      api_key_env: EMEA_STRIPE_KEY
      webhook_secret_file: {secret_file}
      connect_accounts: [acct_1ShopA, acct_1ShopB]
    epicor:
      base_url: https://erp.example.com/KineticEMEA/
      company: EMEA01
      username_env: EMEA_EPICOR_USER
      password_env: EMEA_EPICOR_PASSWORD
      api_key_env: EMEA_EPICOR_KEY
    mappings_dir: mappings
"""


@pytest.fixture()
def env(monkeypatch, tmp_path):
    for name, value in {"EPICOR_BASE_URL": "https://erp.example.com/KineticLive", "EPICOR_USERNAME": "integration",
                        "EPICOR_PASSWORD": "pw", "EPICOR_API_KEY": "key", "STRIPE_API_KEY": "sk_test_unit",
                        "MAPPINGS_DIR": str(REPO_ROOT / "mappings"), "EMEA_STRIPE_KEY": "sk_test_emea",
                        "EMEA_EPICOR_USER": "emea-user", "EMEA_EPICOR_PASSWORD": "emea-pw",
                        "EMEA_EPICOR_KEY": "emea-key"}.items():
        monkeypatch.setenv(name, value)
    for name in ("EPICOR_ALLOW_HTTP", "STRIPE_API_BASE", "RETRY_MAX", "STRIPE_MAX_CALLS_PER_SECOND"):
        monkeypatch.delenv(name, raising=False)
    secret = tmp_path / "emea_whsec"
    secret.write_text("whsec_emea_one,whsec_emea_two\n")
    return tmp_path, secret


def write(monkeypatch, directory, text: str) -> None:
    path = directory / "pairs.yaml"
    path.write_text(textwrap.dedent(text))
    monkeypatch.setenv("PAIRS_FILE", str(path))


def test_without_a_file_the_environment_is_the_one_pair(env, monkeypatch):
    monkeypatch.delenv("PAIRS_FILE", raising=False)
    found = pairs.load_pairs(load_settings())
    assert found.names() == ["default"]
    assert found.get("default").settings.stripe_api_key == "sk_test_unit"


def test_a_pair_reads_its_secrets_by_name_and_keeps_the_environment_for_the_rest(env, monkeypatch):
    directory, secret = env
    write(monkeypatch, directory, GOOD.format(secret_file=secret))
    found = pairs.load_pairs(load_settings())
    emea = found.get("emea")
    assert found.names() == ["default", "emea"]
    assert emea.settings.pair == "emea" and emea.settings.stripe_api_key == "sk_test_emea"
    assert emea.settings.stripe_webhook_secrets == ("whsec_emea_one", "whsec_emea_two")
    assert emea.settings.epicor_base_url == "https://erp.example.com/KineticEMEA"
    assert (emea.settings.epicor_company, emea.settings.epicor_username) == ("EMEA01", "emea-user")
    assert emea.settings.mappings_dir == REPO_ROOT / "mappings"
    assert emea.settings.epicor_timeout == found.get("default").settings.epicor_timeout
    assert {"sk_test_emea", "emea-pw", "whsec_emea_two"} <= set(emea.settings.secrets)
    assert "sk_test_emea" not in repr(emea.settings)
    assert found.get("default").settings.pair == "default"


@pytest.mark.parametrize(("edit", "expected"), [
    (("api_key_env: EMEA_STRIPE_KEY", "api_key: sk_test_inline"), "emea.stripe.api_key holds a secret inline"),
    (("password_env: EMEA_EPICOR_PASSWORD", "password: hunter2"), "emea.epicor.password is a secret written inline"),
    (("api_key_env: EMEA_STRIPE_KEY", "api_key_env: NOT_SET_ANYWHERE"), "names NOT_SET_ANYWHERE, which is not set"),
    (("company: EMEA01", "compnay: EMEA01"), "emea.epicor.compnay is not a setting"),
    (("acct_1ShopB", "shop-b"), "'shop-b' is not a Stripe account id"),
    (("  emea:", "  Emea Pair:"), "is not a pair name"),
    (("  emea:", "  default:"), "'default' is the environment's pair"),
])
def test_a_bad_file_is_refused_naming_the_key_never_the_secret(env, monkeypatch, edit, expected):
    directory, secret = env
    write(monkeypatch, directory, GOOD.format(secret_file=secret).replace(*edit))
    with pytest.raises(ConfigError) as refused:
        pairs.load_pairs(load_settings())
    assert expected in str(refused.value)
    assert "sk_test_inline" not in str(refused.value) and "hunter2" not in str(refused.value)


def test_a_connect_account_listed_twice_is_refused(env, monkeypatch):
    directory, secret = env
    text = GOOD.format(secret_file=secret)
    second = text.split("pairs:\n", 1)[1].replace("emea:", "apac:", 1).replace("acct_1EmeaPlatform", "acct_1Apac")
    write(monkeypatch, directory, text + second)
    with pytest.raises(ConfigError, match="acct_1ShopA is a Connect account of both emea and apac"):
        pairs.load_pairs(load_settings())


def test_connect_events_go_to_the_pair_that_lists_their_account(env, monkeypatch):
    directory, secret = env
    write(monkeypatch, directory, GOOD.format(secret_file=secret))
    found = pairs.load_pairs(load_settings())
    default, emea = found.get("default"), found.get("emea")
    assert found.for_account(default, "acct_1ShopB") == (emea, "")
    assert found.for_account(emea, "acct_1EmeaPlatform") == (emea, "")
    assert found.for_account(default, "acct_1Unknown") == (default, "")  # declares no account: its own
    refused, reason = found.for_account(emea, "acct_1Unknown")
    assert refused is None and "acct_1Unknown, which no pair lists" in reason


def test_preflight_checks_each_pair_and_names_it(env, monkeypatch):
    directory, secret = env
    write(monkeypatch, directory, GOOD.format(secret_file=secret))
    assert preflight.configuration_problems("worker") == []
    write(monkeypatch, directory, GOOD.format(secret_file=secret).replace("https://erp.example.com/KineticEMEA/",
                                                                          "http://erp.example.com/KineticEMEA"))
    assert preflight.configuration_problems("worker") == [
        "pair emea: EPICOR_BASE_URL uses plain http; set EPICOR_ALLOW_HTTP=true only for a local sandbox"]
    write(monkeypatch, directory, GOOD.format(secret_file=secret).replace("api_key_env: EMEA_STRIPE_KEY",
                                                                          "api_key: sk_live_pasted"))
    problems = preflight.configuration_problems("web")
    assert len(problems) == 1 and "holds a secret inline" in problems[0] and "sk_live_pasted" not in problems[0]


def test_the_current_pair_is_set_for_a_block_only():
    assert pairs.current.get() == "default"
    with pairs.working_for("emea"):
        assert pairs.current.get() == "emea"
    assert pairs.current.get() == "default"


def test_the_web_refuses_to_start_on_a_refused_file(env, monkeypatch, capsys):
    directory, secret = env
    monkeypatch.setattr(preflight, "record_fault", lambda role, problems: None)
    write(monkeypatch, directory, GOOD.format(secret_file=secret).replace("      company: EMEA01\n", ""))
    with pytest.raises(SystemExit) as stopped:
        preflight.enforce_pairs("web")
    assert stopped.value.code == preflight.EXIT_CONFIG == 78
    assert "web not started: PAIRS_FILE: emea.epicor lacks company" in capsys.readouterr().err
    write(monkeypatch, directory, GOOD.format(secret_file=secret))
    preflight.enforce_pairs("web")  # a good file: starts


def test_what_is_kept_per_epicor_company_is_kept_apart_per_pair():
    from tasks import store

    assert store.key("journal", "pi_1") == "sec:journal:pi_1"
    with pairs.working_for("emea"):
        assert store.key("journal", "pi_1") == "sec:pair:emea:journal:pi_1"
        assert store.key("cache", "part", "X") == "sec:pair:emea:cache:part:X"
        assert store.key("lock", "cus_1") == "sec:pair:emea:lock:cus_1"
        assert store.key("event", "emea:evt_1") == "sec:event:emea:evt_1"  # records stay deployment-wide
        assert store.key("dlq", "index") == "sec:dlq:index"
    with pairs.working_for("default"):
        assert store.key("journal", "pi_1") == "sec:journal:pi_1"


def test_a_pairs_event_gets_its_settings_and_a_connect_account_its_header(env, monkeypatch):
    from tasks import budget, context
    from tasks.settings import get_settings

    directory, secret = env
    write(monkeypatch, directory, GOOD.format(secret_file=secret))
    get_settings.cache_clear()
    pairs.get_pairs.cache_clear()
    try:
        assert context.context_for({"id": "evt_1"}).settings is get_settings()
        emea = context.context_for({"id": "emea:evt_1", "pair": "emea"}).settings
        assert (emea.pair, emea.epicor_company, emea.stripe_account) == ("emea", "EMEA01", "")
        shop = context.context_for({"id": "emea:evt_2", "pair": "emea", "account": "acct_1ShopA"}).settings
        assert shop.stripe_account == "acct_1ShopA" and shop.stripe_api_key == "sk_test_emea"
        assert budget.epicor_name(emea) == "epicor:emea" and budget.epicor_name(get_settings()) == "epicor"
        with pytest.raises(Exception, match="PAIRS_FILE no longer declares"):
            context.context_for({"id": "apac:evt_1", "pair": "apac"})
    finally:
        get_settings.cache_clear()
        pairs.get_pairs.cache_clear()


def test_the_stripe_connector_sends_the_connect_account(env, monkeypatch):
    from dataclasses import replace

    from tasks.connectors.stripe_api import StripeConnector

    connector = StripeConnector(replace(load_settings(), stripe_account="acct_1ShopA"))
    assert connector.client._requestor._options.stripe_account == "acct_1ShopA"
