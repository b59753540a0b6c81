"""A periodic job (catch-up, payout recheck) runs once at a time: a run started while another holds the
job's lock is skipped at once, with one log line, and what a run raises is never taken for a busy lock."""

from __future__ import annotations

import logging

import pytest

from tasks import catchup, payout_recheck, periodic


@pytest.fixture()
def ctx(monkeypatch, fake_redis):
    sentinel = object()
    monkeypatch.setattr(periodic, "context_for", lambda event: sentinel)
    return sentinel


def test_a_run_gets_a_worker_context_and_gives_its_summary(ctx):
    assert periodic.run_locked("job", lambda given: {"ctx": given}) == {"ctx": ctx}


def test_a_second_run_while_the_first_holds_the_lock_is_skipped_and_logged(ctx, caplog):
    def first(_):
        with caplog.at_level(logging.INFO, logger="tasks.periodic"):
            return {"inner": periodic.run_locked("job", lambda _: "ran twice")}

    assert periodic.run_locked("job", first) == {"inner": None}
    assert "job already running; skipped" in caplog.text
    assert periodic.run_locked("job", lambda _: "again") == "again"  # the lock was released


def test_what_a_run_raises_propagates_and_frees_the_lock(ctx):
    with pytest.raises(ZeroDivisionError):
        periodic.run_locked("job", lambda _: 1 / 0)
    assert periodic.run_locked("job", lambda _: "next") == "next"


@pytest.mark.parametrize(("module", "job"), [(catchup, "catchup"), (payout_recheck, "payout-recheck")])
def test_catch_up_and_payout_recheck_use_it_under_their_own_lock(monkeypatch, module, job):
    seen = []
    monkeypatch.setattr(periodic, "run_locked", lambda name, run: seen.append(name) or "summary")
    assert module.run_locked() == "summary" and seen == [job]
