"""Stage ``validate``: Check the documents against their schemas and Epicor's master data before any write."""

from typing import Any

from tasks import celery_app
from tasks.base import PipelineTask


@celery_app.task(name="pipeline.validate", base=PipelineTask, bind=True)
def validate(self: PipelineTask, envelope: dict[str, Any]) -> dict[str, Any]:
    return self.run_stage("validate", envelope)
