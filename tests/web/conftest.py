import time

import pytest
import redis

from sandbox.signing import sign_payload


@pytest.fixture()
def redis_db():
    import os

    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture()
def client(redis_db):
    from app import create_app

    app = create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture()
def signed():
    def make(body: bytes, secrets=("whsec_test_current",), timestamp=None, with_v0=True):
        return sign_payload(body, list(secrets), timestamp=timestamp or int(time.time()), with_v0=with_v0)

    return make
