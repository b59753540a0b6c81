"""Celery configuration, read from the environment and nothing else (STYLE.md point 2).

Delivery policy: a message is acknowledged only after its task finished (``task_acks_late``), and
given back to the queue if the worker dies mid-task (``task_reject_on_worker_lost``); each worker
reserves one message at a time. Redis redelivers an unacknowledged message after the visibility
timeout, which is kept longer than any retry countdown so a waiting retry is never duplicated.
The stages are I/O-bound (Stripe and Epicor round trips), so the worker runs a thread pool.
"""

import os

broker_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
result_backend = None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_pool = os.environ.get("WORKER_POOL", "threads")
worker_concurrency = int(os.environ.get("WORKER_CONCURRENCY", "8"))
worker_hijack_root_logger = False
worker_cancel_long_running_tasks_on_connection_loss = False

# Longest countdown the pipeline ever asks for (tasks.base caps every retry at this).
MAX_RETRY_COUNTDOWN = int(os.environ.get("MAX_RETRY_COUNTDOWN", "1800"))
broker_transport_options = {
    "visibility_timeout": max(7200, MAX_RETRY_COUNTDOWN * 2),
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "retry_on_timeout": True,
    "health_check_interval": 10,
}
broker_connection_retry_on_startup = True
broker_connection_max_retries = None

# The receiver must answer 503 quickly when Redis is down rather than block Stripe's request.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

task_default_queue = "pipeline"

# Flower watches these events; they carry task names and ids, never payloads beyond the small envelope.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

timezone = "UTC"
enable_utc = True

beat_schedule: dict = {}
