"""Test-wide settings: a dedicated Redis database and known secrets, set before anything is imported."""

import os

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
