"""Stage ``status_update``: Mark the event done with its Epicor keys and write the numbers back to Stripe."""

from typing import Any

from tasks import celery_app
from tasks.base import PipelineTask


@celery_app.task(name="pipeline.status_update", base=PipelineTask, bind=True)
def status_update(self: PipelineTask, envelope: dict[str, Any]) -> dict[str, Any]:
    return self.run_stage("status_update", envelope)
