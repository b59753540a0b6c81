"""The catch-up of every integration pair: each pair's Stripe key (and each Connect account it lists) listed
on its own mark, what it finds queued as that pair's event, one pair's failure not stopping the others, and
``python -m tasks.catchup --pair`` (fakeredis, fake Stripe per listing)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from tasks import catchup, store
from tasks.pairs import Pair, Pairs
from tasks.settings import load_settings
from tests.unit.test_catchup import NOW, FakeStripe, event, received  # noqa: F401 - received: the fixture


class Down:
    def events_page(self, params: dict[str, Any]) -> dict[str, Any]:
        from tasks.errors import RetryableError

        raise RetryableError("Stripe answered 503", reason="stripe.unavailable")


@pytest.fixture()
def two_pairs(monkeypatch, fake_redis):
    """Pairs default and emea (emea lists the Connect account acct_1Shop); each listing its own fake Stripe."""
    settings = load_settings()
    found = Pairs({"default": Pair("default", settings), "emea": Pair("emea", settings, "acct_1Emea", ("acct_1Shop",))})
    monkeypatch.setattr(catchup, "get_pairs", lambda: found)
    listings = {("default", ""): FakeStripe([event("evt_d", NOW - 30), event("evt_same", NOW - 20)]),
                ("emea", ""): FakeStripe([event("evt_e", NOW - 25), event("evt_same", NOW - 20)]),
                ("emea", "acct_1Shop"): FakeStripe([event("evt_s", NOW - 10)])}
    monkeypatch.setattr(catchup, "context_for", lambda spec: SimpleNamespace(
        stripe=listings[(spec["pair"], spec["account"])]))
    monkeypatch.setattr(catchup.time, "time", lambda: NOW)
    return listings


def test_every_pair_is_listed_with_its_own_key_and_queued_as_its_own(two_pairs, received):  # noqa: F811
    result = catchup.run_pairs()
    assert result["failed"] == [] and set(result["pairs"]) == {"default", "emea"}
    by_id = {summary["id"]: summary for summary in received}
    assert set(by_id) == {"evt_d", "evt_same", "emea:evt_e", "emea:evt_same", "emea:evt_s"}
    assert by_id["evt_same"]["pair"] == "default" and "sender_id" not in by_id["evt_same"]
    assert (by_id["emea:evt_same"]["pair"], by_id["emea:evt_same"]["sender_id"]) == ("emea", "evt_same")
    assert by_id["emea:evt_s"]["account"] == "acct_1Shop"  # listed with Stripe-Account: routed as its pair's
    assert result["queued"] == 5 and result["pairs"]["emea"]["queued"] == 3
    assert all(fake.requests for fake in two_pairs.values())
    # each listing keeps its own mark; the default pair's is the key it always was
    assert store.client().hget("sec:catchup:stripe", "last_seen") == str(NOW - 20)
    assert store.client().hget("sec:catchup:stripe:emea", "last_seen") == str(NOW - 20)
    assert store.client().hget("sec:catchup:stripe:emea:acct_1Shop", "last_seen") == str(NOW - 10)
    again = catchup.run_pairs()
    assert again["queued"] == 0 and again["already_received"] == 5


def test_one_pairs_stripe_away_does_not_stop_the_others(two_pairs, received):  # noqa: F811
    two_pairs[("emea", "")] = Down()
    result = catchup.run_pairs()
    assert result["failed"] == ["emea"] and result["pairs"]["emea"] == {"error": "stripe.unavailable"}
    assert [summary["id"] for summary in received] == ["evt_same", "evt_d"]


def test_the_command_runs_one_pair_and_refuses_an_unknown_one(two_pairs, received):  # noqa: F811
    done = CliRunner().invoke(catchup.main, ["--pair", "emea", "--json"])
    assert done.exit_code == 0, done.output
    assert list(json.loads(done.output)["pairs"]) == ["emea"]
    assert {summary["pair"] for summary in received} == {"emea"}
    text = CliRunner().invoke(catchup.main, ["--dry-run"])
    assert "Pair default: Listed 2 events" in text.output and "Pair emea: Listed 3 events" in text.output
    unknown = CliRunner().invoke(catchup.main, ["--pair", "apac"])
    assert unknown.exit_code == 2 and "no pair named apac" in unknown.output


def test_a_pair_whose_run_is_in_progress_is_skipped_and_the_command_says_so(two_pairs, monkeypatch):
    monkeypatch.setattr(catchup.periodic, "run_locked", lambda job, run: None)
    done = CliRunner().invoke(catchup.main, ["--pair", "emea"])
    assert done.exit_code == 1 and "Another catch-up of pair emea is running" in done.output
