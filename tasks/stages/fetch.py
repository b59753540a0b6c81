"""Stage ``fetch``: Re-read the current Stripe (or Epicor) objects behind the event: payloads can be stale."""

from typing import Any

from tasks import celery_app, flow_switches
from tasks.base import PipelineTask


@celery_app.task(name="pipeline.fetch", base=PipelineTask, bind=True)
def fetch(self: PipelineTask, envelope: dict[str, Any]) -> dict[str, Any]:
    flow_switches.ignore_if_off(self, envelope)  # a flow an admin switched off: its event recorded ignored, why
    return self.run_stage("fetch", envelope)
