"""Flower's settings for this project (``celery -A tasks flower`` reads this file from the working directory).

Flower is the operator's window on the pipeline, so it never runs open: it refuses to start unless
``FLOWER_BASIC_AUTH`` (``user:password``, several comma-separated) or an OAuth setting (``FLOWER_AUTH``)
is set. Flower reads those ``FLOWER_*`` variables itself; this file only adds what the dead-letter
queue needs to be readable:

- the task list shows arguments, result and exception, so a ``dlq.recorded`` task reads as
  "event id, stage, reason, message" and a dead-lettered stage task shows its reason;
- the ``dead_letter`` queue is consumed by every worker (``celeryconfig.task_queues``), which is
  what makes Flower list it on the Broker page.

Task arguments hold ids, reason codes and error messages only, never payloads or secrets.
"""

import os

if not (os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_AUTH")):
    raise SystemExit("FLOWER_BASIC_AUTH is not set: Flower would be open to anyone who can reach it. "
                     "Set FLOWER_BASIC_AUTH=user:password (see .env.example).")

# Flower applies FLOWER_* variables before this file, so each value here keeps an explicit one.
tasks_columns = os.environ.get("FLOWER_TASKS_COLUMNS",
                               "name,uuid,state,args,result,exception,received,runtime,worker,retries")
max_tasks = int(os.environ.get("FLOWER_MAX_TASKS", "20000"))
purge_offline_workers = int(os.environ.get("FLOWER_PURGE_OFFLINE_WORKERS", "600"))
