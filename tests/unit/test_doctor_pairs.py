"""``doctor`` with several integration pairs: the deployment's checks once, Stripe and Epicor once per pair with
that pair's settings and webhook address, each in a section titled by its pair; ``--pair NAME`` one pair."""

from __future__ import annotations

import json
from dataclasses import replace

import click
import pytest
from click.testing import CliRunner

import celery_commands
from tasks import doctor as doc
from tasks import pairs
from tasks.pairs import Pair, Pairs
from tasks.settings import load_settings

HOOK = "https://connector.example.com/webhooks/stripe"


@pytest.fixture()
def two_pairs(monkeypatch):
    settings = load_settings()
    found = Pairs({"default": Pair("default", settings),
                   "emea": Pair("emea", replace(settings, pair="emea", epicor_company="EMEA01"))})
    monkeypatch.setattr(pairs, "get_pairs", lambda: found)
    monkeypatch.setattr(doc, "_published_tables", lambda: {})

    def configuration(checkup: doc.Doctor) -> None:
        checkup.settings = settings
        checkup.add("Configuration", doc.PASS, "every pair's settings are valid")

    def stripe(checkup: doc.Doctor) -> None:
        checkup.add("Stripe webhook endpoint", doc.PASS, f"{doc.target_url(checkup)}")

    def epicor(checkup: doc.Doctor) -> None:
        status = doc.FAIL if checkup.settings.epicor_company == "EMEA01" else doc.PASS
        checkup.add("Epicor company", status, checkup.settings.epicor_company)

    monkeypatch.setattr(doc, "CHECKS", (configuration, stripe, epicor))
    monkeypatch.setattr(doc, "PAIR_CHECKS", (stripe, epicor))
    return found


def test_each_pair_is_checked_with_its_own_settings_in_its_own_section(two_pairs):
    result = doc.run(HOOK)
    assert [(c.pair, c.name, c.detail) for c in result.results] == [
        ("", "Configuration", "every pair's settings are valid"),
        ("default", "Stripe webhook endpoint", HOOK), ("default", "Epicor company", "EPIC06"),
        ("emea", "Stripe webhook endpoint", f"{HOOK}/emea"), ("emea", "Epicor company", "EMEA01")]
    text = doc.checklist(result)
    assert text.index("Pair default:") < text.index("Epicor company: EPIC06") < text.index("Pair emea:") \
        < text.index("Epicor company: EMEA01")
    assert not result.ok  # emea's failure is the deployment's


def test_the_command_checks_one_pair_and_refuses_an_unknown_one(two_pairs):
    root = click.Group("celery", commands={"doctor": celery_commands.doctor})
    done = CliRunner().invoke(root, ["doctor", "--json", "--url", HOOK, "--pair", "emea"])
    assert done.exit_code == 1, done.output
    checks = json.loads(done.output)["checks"]
    assert [(c.get("pair"), c["name"]) for c in checks] == [
        (None, "Configuration"), ("emea", "Stripe webhook endpoint"), ("emea", "Epicor company")]
    unknown = CliRunner().invoke(root, ["doctor", "--pair", "apac"])
    assert unknown.exit_code == 2 and "no pair named apac" in unknown.output


def test_a_pair_whose_settings_are_refused_is_skipped_not_crashed(two_pairs, monkeypatch):
    from tasks.settings import ConfigError

    def refused(name: str):
        raise ConfigError(f"pair {name} is not declared in PAIRS_FILE")

    monkeypatch.setattr(pairs, "settings_for", refused)
    monkeypatch.setattr(doc, "PAIR_CHECKS", (doc.check_stripe,))
    monkeypatch.setattr(doc, "CHECKS", (doc.check_stripe,))
    result = doc.run(HOOK, "emea")
    assert [(c.pair, c.name, c.status) for c in result.results] == [("emea", "Stripe", doc.SKIP)]


def test_a_pairs_codes_are_read_from_the_tables_published_for_it(two_pairs, monkeypatch):
    seen = []
    monkeypatch.setattr(doc, "_published_tables", lambda: seen.append(pairs.current.get()) or {})
    doc.run(HOOK, "emea")
    assert seen == ["emea"]
