"""Payouts of integration pairs: beat's recheck goes through every pair with that pair's context and reports,
one pair's failure not stopping the next; ``payouts list/show/reconcile/post/recheck --pair`` (fakeredis)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from tasks import pairs, payout_recheck, payouts_cli
from tasks.flows.payout_reconciliation import load_report
from tasks.pairs import Pair, Pairs, working_for
from tasks.settings import load_settings
from tests.unit.test_mapping_payouts import DOCUMENTS
from tests.unit.test_payout_recheck import NOW, stored_report


@pytest.fixture()
def two_pairs(monkeypatch, fake_redis):
    settings = load_settings()
    found = Pairs({"default": Pair("default", settings), "emea": Pair("emea", settings)})
    for module in (pairs, payout_recheck, payouts_cli):
        monkeypatch.setattr(module, "get_pairs", lambda: found)
    monkeypatch.setattr(payout_recheck, "context_for", lambda event: SimpleNamespace(pair=event["pair"]))
    monkeypatch.setattr(payouts_cli, "context_for", lambda event: SimpleNamespace(pair=event["pair"]))
    stored_report("po_default", {}, NOW - 7200)
    with working_for("emea"):
        stored_report("po_emea", {}, NOW - 3600)
    return found


def test_the_recheck_goes_through_every_pair_with_its_own_context_and_reports(two_pairs, monkeypatch):
    seen = []

    def recheck(ctx):
        seen.append((ctx.pair, pairs.current.get(), [r["payout"] for r in payout_recheck.waiting_reports(NOW, 30)]))
        if ctx.pair == "default":
            raise ConnectionError("Epicor of the default pair away")
        return {"checked": 1, "reconciled": [], "failed": []}

    monkeypatch.setattr(payout_recheck, "recheck", recheck)
    found = payout_recheck.run_pairs()
    assert seen == [("default", "default", ["po_default"]), ("emea", "emea", ["po_emea"])]
    assert "error" in found["default"] and found["emea"] == {"checked": 1, "reconciled": [], "failed": []}
    assert payout_recheck.run_pairs(["emea"]).keys() == {"emea"}


def test_the_recheck_command_takes_a_pair(two_pairs, monkeypatch):
    monkeypatch.setattr(payout_recheck, "recheck", lambda ctx: {"checked": 0, "reconciled": [], "failed": [],
                                                                   "pair": ctx.pair})
    one = CliRunner().invoke(payouts_cli.main, ["recheck", "--pair", "emea", "--json"])
    assert one.exit_code == 0 and json.loads(one.output)["pair"] == "emea"
    every = CliRunner().invoke(payouts_cli.main, ["recheck"])
    assert "Pair default: 0 payouts" in every.output and "Pair emea: 0 payouts" in every.output


def test_list_shows_every_pairs_payouts_and_show_one_pairs(two_pairs):
    listed = CliRunner().invoke(payouts_cli.main, ["list", "--json"])
    assert [(r["payout"], r["pair"]) for r in json.loads(listed.output)] == [("po_emea", "emea"),
                                                                           ("po_default", "default")]
    only = CliRunner().invoke(payouts_cli.main, ["list", "--pair", "emea"])
    assert "po_emea" in only.output and "po_default" not in only.output
    assert CliRunner().invoke(payouts_cli.main, ["show", "po_emea", "--json"]).exit_code == 2  # the default's
    shown = CliRunner().invoke(payouts_cli.main, ["show", "po_emea", "--pair", "emea", "--json"])
    assert json.loads(shown.output)["payout"] == "po_emea"
    unknown = CliRunner().invoke(payouts_cli.main, ["show", "po_emea", "--pair", "apac"])
    assert unknown.exit_code == 2 and "no pair named apac" in unknown.output


def test_reconcile_and_post_work_on_the_pairs_report_with_its_context(two_pairs, monkeypatch):
    calls = []

    def reconcile_now(ctx, payout_id, mode="auto"):
        calls.append((ctx.pair, pairs.current.get(), payout_id, mode))
        return stored_report(payout_id, dict(DOCUMENTS), NOW)

    monkeypatch.setattr(payouts_cli, "reconcile_now", reconcile_now)
    CliRunner().invoke(payouts_cli.main, ["reconcile", "po_emea", "--pair", "emea"])
    CliRunner().invoke(payouts_cli.main, ["post", "po_emea", "--pair", "emea"])
    assert calls == [("emea", "emea", "po_emea", "auto"), ("emea", "emea", "po_emea", "force")]
    with working_for("emea"):
        assert load_report("po_emea")["checked_at"] == NOW  # rebuilt in the pair's own store
    assert load_report("po_emea") is None  # never in the default pair's
