"""Test-wide settings: a dedicated Redis database and known secrets, set before anything is imported.

An interrupted run leaves no process behind. Ctrl-C raises KeyboardInterrupt, and pytest then tears
the fixtures down, which stops every server they started. SIGTERM (a CI runner's or a process
manager's stop) and SIGHUP (the terminal closing) would kill pytest without any teardown, so they
raise KeyboardInterrupt too; and SIGINT gets its handler back when the run was started as a
background job, which starts with SIGINT ignored. Should pytest die without a teardown all the same
(SIGKILL), the servers die with it: ``sandbox.stack.spawn`` starts them with a parent-death signal.
"""

import os
import signal

os.environ.setdefault("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
os.environ.setdefault("STRIPE_API_KEY", "sk_test_unit")
os.environ["STRIPE_WEBHOOK_SECRET"] = "whsec_test_current,whsec_test_previous"
os.environ.setdefault("EPICOR_WEBHOOK_SECRET", "epicor_test_secret")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Each test starts without master data cached in the process (``tasks.store`` keeps some)."""
    from tasks import store

    store.forget_local_cache()
    yield
    store.forget_local_cache()


def pytest_configure(config: pytest.Config) -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupt(signum: int, _frame: object) -> None:
    for repeated in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(repeated, signal.SIG_IGN)  # the teardown this starts must not itself be cut short
    raise KeyboardInterrupt(signal.Signals(signum).name)
