"""Fixtures and helpers shared by the unit tests: an in-memory Redis, the Stripe connector, a served app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import fakeredis
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tasks import store
from tasks.connectors.stripe_api import StripeConnector
from tasks.settings import load_settings

STRIPE_API = "https://api.stripe.test"


@pytest.fixture()
def fake_redis(monkeypatch):
    """A Redis of the test's own behind ``tasks.store``."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    monkeypatch.setattr(store, "client", lambda: client)
    return client


def stripe_connector(monkeypatch, base: str = STRIPE_API, api_key: str = "sk_test_unit") -> StripeConnector:
    """The project's Stripe connector aimed at ``base``, with no network retries."""
    monkeypatch.setenv("STRIPE_API_KEY", api_key)
    monkeypatch.setenv("STRIPE_API_BASE", base)
    monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "0")
    return StripeConnector(load_settings())


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` over real HTTP on a free localhost port, in a background thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture()
def published(fake_redis, monkeypatch):
    """A worker that builds with the published mapping versions, on the test's own Redis."""
    from tasks.mapping import engine, versions

    versions.forget()
    monkeypatch.setattr(engine, "published_source", versions.published_for)
    yield fake_redis
    versions.forget()
