"""Stage ``transform``: Turn the fetched objects into Epicor documents with the pure mapping engine."""

from typing import Any

from tasks import celery_app
from tasks.base import PipelineTask


@celery_app.task(name="pipeline.transform", base=PipelineTask, bind=True)
def transform(self: PipelineTask, envelope: dict[str, Any]) -> dict[str, Any]:
    return self.run_stage("transform", envelope)
