"""store.unless_running: a periodic job runs alone, and its own errors are never taken for a busy lock."""

from __future__ import annotations

import pytest

from tasks import store
from tasks.errors import RetryableError


def test_a_run_while_another_holds_the_lock_is_skipped(fake_redis):
    ran = []
    with store.locked("nightly", timeout=60):
        assert store.unless_running("nightly", lambda: ran.append(1), timeout=60) is None
    assert ran == []
    assert store.unless_running("nightly", lambda: "done", timeout=60) == "done"


def test_an_error_of_the_run_itself_propagates_and_frees_the_lock(fake_redis):
    def outage():
        raise RetryableError("Stripe answered 503", reason="stripe.unavailable")

    with pytest.raises(RetryableError, match="503"):
        store.unless_running("nightly", outage, timeout=60)
    assert store.unless_running("nightly", lambda: "next run", timeout=60) == "next run"


def test_locked_still_refuses_a_busy_section_as_retryable(fake_redis):
    with store.locked("cust:1", timeout=60), pytest.raises(RetryableError), \
            store.locked("cust:1", timeout=60, wait=0.1):
        pass
