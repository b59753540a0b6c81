"""Every Redis client built in one place (``tasks.redis_clients``): the settings, the Celery broker's
Sentinel transport, the start-up check of the sentinels, and a client that carries on over a failover.

The Sentinel tests run a primary, a replica and three sentinels of their own (real ``redis-server``
processes on free ports, passwords on the servers and on the sentinels: ``tests.sentinel_cluster``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import kombu
import pytest
import redis
import redis.sentinel

from tasks import doctor, preflight, redis_clients, store
from tasks.settings import ConfigError, RedisSettings, get_settings, load_redis_settings, load_settings
from tests.sentinel_cluster import SentinelCluster, redis_server_installed

PASSWORD = "srv-pass/with:odd@chars"
SENTINEL_PASSWORD = "sentinel-pass-7q"
REDIS_ENV = ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_DB", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE",
             "REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_PASSWORD_FILE", "REDIS_FAILOVER_TIMEOUT")

needs_redis_server = pytest.mark.skipif(not redis_server_installed(), reason="redis-server is not installed")


@pytest.fixture()
def redis_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in REDIS_ENV:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    get_settings.cache_clear()
    store.forget_clients()


# -- settings -----------------------------------------------------------------------------------------
def test_without_sentinels_redis_url_is_used_as_before(redis_env):
    redis_env.setenv("REDIS_URL", "redis://:urlpass@cache.internal:6380/4")
    where = load_redis_settings()
    assert not where.uses_sentinel
    assert where.password == "urlpass"
    assert redis_clients.broker_settings(where)["broker_url"] == "redis://:urlpass@cache.internal:6380/4"
    assert redis_clients.describe(where) == "redis://cache.internal:6380/4"


def test_sentinel_list_master_db_and_passwords_are_read(redis_env, tmp_path: Path):
    secret = tmp_path / "sentinel-password"
    secret.write_text(SENTINEL_PASSWORD + "\n")
    redis_env.setenv("REDIS_URL", "redis://ignored:6379/5")
    redis_env.setenv("REDIS_SENTINELS", "s1.internal:26380, s2.internal ,[fd00::7]:26381")
    redis_env.setenv("REDIS_SENTINEL_MASTER", "payments")
    redis_env.setenv("REDIS_PASSWORD", PASSWORD)
    redis_env.setenv("REDIS_SENTINEL_PASSWORD_FILE", str(secret))
    where = load_redis_settings()
    assert where.sentinels == (("s1.internal", 26380), ("s2.internal", 26379), ("fd00::7", 26381))
    assert (where.sentinel_master, where.db) == ("payments", 5)  # REDIS_URL's database when REDIS_DB is unset
    assert (where.password, where.sentinel_password) == (PASSWORD, SENTINEL_PASSWORD)
    redis_env.setenv("REDIS_DB", "3")
    assert load_redis_settings().db == 3
    shown = repr(where) + redis_clients.describe(where)
    assert PASSWORD not in shown and SENTINEL_PASSWORD not in shown and "payments" in shown


def test_both_redis_passwords_are_secrets_of_the_settings(redis_env):
    redis_env.setenv("REDIS_SENTINELS", "127.0.0.1:26379")
    redis_env.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    redis_env.setenv("REDIS_PASSWORD", PASSWORD)
    redis_env.setenv("REDIS_SENTINEL_PASSWORD", SENTINEL_PASSWORD)
    settings = load_settings()
    assert PASSWORD in settings.secrets and SENTINEL_PASSWORD in settings.secrets  # redacted from records
    assert PASSWORD not in repr(settings.redis)


@pytest.mark.parametrize(("env", "named"), [
    ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_MASTER"),
    ({"REDIS_SENTINELS": "s1:port", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "s1:70000", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "s1", "REDIS_SENTINEL_MASTER": "m", "REDIS_DB": "two"}, "REDIS_DB"),
])
def test_a_malformed_redis_setting_is_a_configuration_error_naming_it(redis_env, env, named):
    for name, value in env.items():
        redis_env.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        load_redis_settings()


def test_celery_broker_goes_through_the_sentinels_with_master_name_db_and_both_passwords():
    where = RedisSettings(sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380)), sentinel_master="payments", db=2,
                          password="p@ss/word", sentinel_password=SENTINEL_PASSWORD)
    broker = redis_clients.broker_settings(where)
    assert broker["broker_url"] == ("sentinel://:p%40ss%2Fword@10.0.0.1:26379/2;"
                                    "sentinel://:p%40ss%2Fword@10.0.0.2:26380/2")
    assert broker["transport_options"]["master_name"] == "payments"
    assert broker["transport_options"]["sentinel_kwargs"]["password"] == SENTINEL_PASSWORD
    connection = kombu.Connection(broker["broker_url"])
    assert connection.password == "p@ss/word" and connection.virtual_host == "2"
    assert "p@ss" not in connection.as_uri()  # what Celery prints


def test_the_failover_retry_keeps_trying_for_the_configured_window_on_readonly_too():
    retry = redis_clients.failover_retry(20)
    assert redis.exceptions.ReadOnlyError in retry._supported_errors
    assert redis.exceptions.ConnectionError in retry._supported_errors
    pauses = [min(redis_clients.BACKOFF_BASE * 2 ** n, redis_clients.BACKOFF_CAP) for n in range(retry.get_retries())]
    assert 20 <= sum(pauses) < 21


@pytest.mark.parametrize("error", [
    redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
    redis.exceptions.ResponseError("NOREPLICAS Not enough good replicas to write."),
    redis.exceptions.ResponseError("Command # 1 (SET a 1) of pipeline caused error: NOREPLICAS Not enough good "
                                   "replicas to write."),
    redis.sentinel.MasterNotFoundError("No master found for 'mymaster'"),
])
def test_a_primary_that_cannot_take_writes_yet_is_redis_away_never_a_dead_letter(error):
    from tasks.errors import RetryableError, classify

    classified = classify(error)
    assert isinstance(classified, RetryableError) and classified.reason == "redis.unavailable"


def test_other_redis_replies_stay_unexpected():
    from tasks.errors import PermanentError, classify

    assert isinstance(classify(redis.exceptions.ResponseError("WRONGTYPE Operation against a key")), PermanentError)


# -- real sentinels -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    if not redis_server_installed():
        pytest.skip("redis-server is not installed")
    running = SentinelCluster(tmp_path_factory.mktemp("sentinel"), password=PASSWORD,
                              sentinel_password=SENTINEL_PASSWORD, down_after_ms=1000)
    try:
        yield running.start()
    finally:
        running.stop()


def cluster_settings(cluster: SentinelCluster, **changes: object) -> RedisSettings:
    values: dict[str, object] = dict(
        sentinels=tuple(("127.0.0.1", port) for port in cluster.sentinel_ports), sentinel_master="mymaster",
        db=6, password=PASSWORD, sentinel_password=SENTINEL_PASSWORD, failover_timeout=20.0)
    values.update(changes)
    return RedisSettings(**values)  # type: ignore[arg-type]


@needs_redis_server
def test_a_client_writes_to_the_primary_the_sentinels_name_in_redis_db(cluster):
    client = redis_clients.connect(cluster_settings(cluster))
    client.set("h8:probe", "through sentinel")
    direct = redis.Redis(port=cluster.primary_port(), db=6, password=PASSWORD, decode_responses=True)
    assert direct.get("h8:probe") == "through sentinel"
    assert redis.Redis(port=cluster.primary_port(), db=0, password=PASSWORD).get("h8:probe") is None


@needs_redis_server
def test_sentinels_that_can_name_the_primary_are_no_problem(cluster):
    assert redis_clients.sentinel_problems(cluster_settings(cluster)) == []


@needs_redis_server
@pytest.mark.parametrize(("changes", "reason"), [
    ({"sentinel_master": "no-such"}, "knows no master named 'no-such'"),
    ({"sentinel_password": "wrong-sentinel-password"}, "refused REDIS_SENTINEL_PASSWORD"),
    ({"sentinel_password": ""}, "asks for a password: set REDIS_SENTINEL_PASSWORD"),
])
def test_sentinels_that_cannot_serve_the_configuration_say_why(cluster, changes, reason):
    problems = redis_clients.sentinel_problems(cluster_settings(cluster, **changes))
    assert len(problems) == 1 and reason in problems[0]
    assert PASSWORD not in problems[0] and SENTINEL_PASSWORD not in problems[0]


def test_sentinels_that_do_not_answer_are_named():
    from sandbox.stack import free_port

    port = free_port()
    problems = redis_clients.sentinel_problems(RedisSettings(sentinels=(("127.0.0.1", port),), sentinel_master="m"))
    assert problems == [f"no sentinel of REDIS_SENTINELS can name the Redis primary: 127.0.0.1:{port} does not answer"]


@needs_redis_server
def test_worker_start_stops_with_exit_78_when_the_sentinels_know_no_such_master(cluster, redis_env, caplog):
    for name, value in cluster.env(db=6).items():
        redis_env.setenv(name, value)
    redis_env.setenv("REDIS_SENTINEL_MASTER", "no-such")
    redis_env.setattr(preflight, "configuration_problems", lambda role: [])  # only the Redis settings differ
    with pytest.raises(SystemExit) as stopped:
        preflight.enforce("worker")
    assert stopped.value.code == preflight.EXIT_CONFIG
    said = caplog.text
    assert "knows no master named 'no-such'" in said and PASSWORD not in said


@needs_redis_server
def test_the_store_and_the_broker_reach_redis_through_sentinel_only(cluster, redis_env):
    from sandbox.stack import free_port

    for name, value in cluster.env(db=6).items():
        redis_env.setenv(name, value)
    redis_env.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/6")  # nothing answers there
    get_settings.cache_clear()
    store.forget_clients()
    store.client().set("h8:store", "1")
    assert redis.Redis(port=cluster.primary_port(), db=6, password=PASSWORD).get("h8:store") == b"1"

    broker = redis_clients.broker_settings(load_redis_settings())
    with kombu.Connection(broker["broker_url"], transport_options=broker["transport_options"]) as connection:
        queue = connection.SimpleQueue("h8-sentinel-probe")
        queue.put({"through": "sentinel"})
        assert queue.get(timeout=5).payload == {"through": "sentinel"}
        queue.close()


@needs_redis_server
def test_the_doctor_names_sentinel_and_master_without_passwords(cluster):
    checked = doctor.Doctor(settings=replace(load_settings(), redis=cluster_settings(cluster)))
    doctor.check_redis(checked)
    first = checked.results[0]
    assert (first.name, first.status) == ("Redis", doctor.PASS)
    assert "Sentinel master 'mymaster' (db 6)" in first.detail and PASSWORD not in first.detail
    wrong = doctor.Doctor(settings=replace(load_settings(), redis=cluster_settings(cluster, sentinel_master="no-such")))
    doctor.check_redis(wrong)
    assert wrong.results[0].status == doctor.FAIL and "no-such" in wrong.results[0].detail


@needs_redis_server
def test_a_command_across_a_failover_waits_for_the_promoted_replica_instead_of_failing(cluster):
    """Last in this module: it kills the primary. The client is the one the store builds."""
    client = redis_clients.connect(cluster_settings(cluster))
    client.set("h8:before", "1")
    client.wait(1, 2000)  # on the replica before the kill: what was acknowledged by both survives
    old = cluster.kill_primary()
    started = time.monotonic()
    assert client.incr("h8:after") == 1  # retried until the sentinels promoted the replica
    waited = time.monotonic() - started
    new = cluster.wait_promoted(old)
    assert new != old and client.get("h8:before") == "1"
    assert redis.Redis(port=new, db=6, password=PASSWORD).get("h8:after") == b"1"
    assert waited < 20
