"""Vendor patches: applied only when a process asks, each only on the library versions it was written
for, each idempotent and each doing what it says."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import kombu
import pytest

from tasks import patches


def fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_the_pipeline_patches_nothing():
    untouched = fresh("import tasks, tasks.api, tasks.chains\n"
                      "from kombu.transport.redis import Channel\n"
                      "print(hasattr(Channel.conn_or_acquire, 'reuses_client'),"
                      " hasattr(Channel._connparams, 'guarded'))")
    assert untouched == "False False"


def test_each_role_gets_its_own_patches_and_a_second_apply_changes_nothing():
    applied = fresh("from tasks import patches\nfirst = patches.apply_all('web')\n"
                    "again = patches.apply_all('web')\n"
                    "print(first == again, all(first.values()), len(first))")
    assert applied == "True True 2"  # the web server does not load the Stripe SDK for the worker's patch
    assert len(patches.apply_all("worker")) == 3


@pytest.mark.parametrize("installed", [(5, 6), (5, 8), (6, 0), None])
def test_a_library_version_outside_the_written_range_keeps_the_library_as_shipped(installed, monkeypatch, caplog):
    calls = []
    patch = patches.Patch("demo", "kombu", ((5, 7), (5, 8)), lambda: calls.append(1) or True)
    monkeypatch.setattr(patches, "version_of", lambda package: installed)
    with caplog.at_level(logging.WARNING, logger="tasks.patches"):
        assert patches.apply(patch) is False
    assert calls == [] and "vendor patch not applied (kombu" in caplog.text


def test_internals_that_are_not_there_any_more_are_reported_not_patched(caplog):
    patch = patches.Patch("demo", "kombu", ((5, 7), (5, 8)), lambda: False)
    with caplog.at_level(logging.WARNING, logger="tasks.patches"):
        assert patches.apply(patch) is False
    assert "internals changed" in caplog.text


def test_the_installed_libraries_are_the_ones_the_patches_were_written_for():
    """Fails on an upgrade, so whoever upgrades re-checks each patch against the new internals."""
    for patch in patches.PATCHES:
        assert patches.supported(patch, patches.version_of(patch.package)), patch.name


def test_a_broker_channel_keeps_one_redis_client():
    patches.reuse_channel_clients()
    with kombu.Connection(os.environ["TEST_REDIS_URL"]) as connection:
        channel = connection.channel()
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second and first.ping()
        channel._pool = None  # what a reconnect does: a new pool, so a new client on it
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool and third.ping()


def test_a_released_broker_channel_raises_a_connection_error_celery_recovers_from():
    import redis
    from kombu.transport.redis import Channel

    patches.guard_closed_broker_channel()

    class Released:
        connection = type("Conn", (), {"client": None})()

    with pytest.raises(redis.exceptions.ConnectionError):
        Channel._connparams(Released())


def test_stripe_log_lines_are_formatted_only_when_shown(monkeypatch):
    from stripe import _util as sdk_util

    formatted: list[str] = []
    quiet = patches.heard_only(lambda message, **params: formatted.append(message), logging.INFO)
    monkeypatch.setattr(sdk_util, "_console_log_level", lambda: None)
    logging.getLogger("stripe").setLevel(logging.WARNING)
    quiet("Request to Stripe api")
    assert formatted == []
    monkeypatch.setattr(sdk_util, "_console_log_level", lambda: "info")
    quiet("Request to Stripe api")
    assert formatted == ["Request to Stripe api"]
