"""Stage ``post``: Write the documents to Epicor, looking each one up by external reference first."""

from typing import Any

from tasks import celery_app
from tasks.base import PipelineTask


@celery_app.task(name="pipeline.post", base=PipelineTask, bind=True)
def post(self: PipelineTask, envelope: dict[str, Any]) -> dict[str, Any]:
    return self.run_stage("post", envelope)
