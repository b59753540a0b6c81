"""Celery configuration, read from the environment and nothing else (STYLE.md point 2).

Delivery policy: a message is acknowledged only after its task finished (``task_acks_late``), and
given back to the queue if the worker dies mid-task (``task_reject_on_worker_lost``); each worker
reserves one message at a time. Redis redelivers an unacknowledged message after the visibility
timeout, which is kept longer than any retry countdown so a waiting retry is never duplicated.
The stages are I/O-bound (Stripe and Epicor round trips), so the worker runs a thread pool.
"""

import os

from kombu import Queue

# REDIS_URL, or kombu's sentinel:// transport when REDIS_SENTINELS is set (tasks/redis_clients.py); the
# password is broker_password, never part of the URL. A malformed Redis setting is reported by the
# start-up check (tasks.preflight: exit 78 with its reason), not by a traceback here. With REDIS_URL alone
# nothing of the product is imported: the benchmarks' stock Celery baseline shares this file.
_PLAIN: dict = {"broker_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), "broker_password": None,
          "transport_options": {}}
if any(os.environ.get(name) for name in ("REDIS_SENTINELS", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE")):
    from tasks.redis_clients import broker_settings
    from tasks.settings import ConfigError, load_redis_settings

    try:
        _BROKER = broker_settings(load_redis_settings())
    except ConfigError:
        _BROKER = _PLAIN
else:
    _BROKER = _PLAIN
broker_url = _BROKER["broker_url"]
broker_password = _BROKER["broker_password"]
result_backend = None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_pool = os.environ.get("WORKER_POOL", "threads")
# 64 threads: a stage mostly waits on Stripe or Epicor (200 ms+ per call on a real Epicor server), and
# EPICOR_MAX_CONCURRENCY, not the thread count, is what bounds the load on Epicor (bench/README.md).
worker_concurrency = int(os.environ.get("WORKER_CONCURRENCY", "96"))
worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = False

# A message taken by a worker that died without acknowledging it (kill -9, lost machine) goes back to
# the queue after the visibility timeout; the sweep that finds such messages runs every
# BROKER_RESTORE_INTERVAL seconds. A waiting retry is also an unacknowledged message, so the longest
# countdown the pipeline asks for (tasks.base caps every retry at it) stays well below the timeout.
# Message priorities (tasks/chains.py STAGE_PRIORITY): kombu keeps one Redis list per step and serves
# 0 first; a queue's messages are in ``pipeline``, ``pipeline\x06\x163`` … (tasks/broker.py queue_keys).
PRIORITY_STEPS = [0, 3, 6, 9]

BROKER_VISIBILITY_TIMEOUT = int(os.environ.get("BROKER_VISIBILITY_TIMEOUT", "300"))
MAX_RETRY_COUNTDOWN = min(int(os.environ.get("MAX_RETRY_COUNTDOWN", "240")), int(BROKER_VISIBILITY_TIMEOUT * 0.8))
broker_transport_options = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": int(os.environ.get("BROKER_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 10,
    "priority_steps": PRIORITY_STEPS,
    **_BROKER["transport_options"],  # master_name and sentinel_kwargs with Sentinel
}
broker_connection_retry_on_startup = True
broker_connection_max_retries = None

# The receiver must answer 503 quickly when Redis is down rather than block Stripe's request.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

task_default_queue = "pipeline"
# `dead_letter` carries one small `dlq.recorded` message per dead-lettered event (ids, reason, message).
# Workers consume it, so Flower lists it on its Broker page and shows each dead letter as a task.
task_queues = (Queue("pipeline"), Queue("dead_letter"))
task_routes = {"dlq.*": {"queue": "dead_letter"}}

# Flower watches these events; they carry task names and ids, never payloads beyond the small envelope.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

timezone = "UTC"
enable_utc = True

# Catch-up of Stripe events the receiver never got (tasks/catchup.py), run by `celery -A tasks beat`.
# history.jobs: the worker's history drainer thread and beat's daily retention prune (history/).
imports = ("tasks.catchup", "tasks.payout_recheck", "history.jobs")
beat_schedule: dict = {
    "stripe-catch-up": {"task": "catchup.run",
                        "schedule": float(os.environ.get("CATCHUP_INTERVAL_SECONDS", "900"))},
    "payout-recheck": {"task": "payouts.recheck",
                       "schedule": float(os.environ.get("PAYOUT_RECHECK_SECONDS", "900"))},
    "history-prune": {"task": "history.prune", "schedule": 86400.0},
}
