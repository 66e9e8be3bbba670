"""batch_predict: an upload under test/ (S3 → SQS) or the daily scoring schedule → start scoring; the daily
monitoring schedule → start the monitoring job (the day before's drift of API traffic, realized accuracy).

Scoring runs in the training image as a Fargate task (``training_job.main score``),
so the scikit-learn that trained is the one that scores and this function stays
boto3-only; files over the Dask threshold are scored on Dask inside that task.
It writes predictions/[<project>/]<name>.csv.
"""

from __future__ import annotations

from typing import Any

from dropml import events, logs
from dropml.usecases import triggers

logs.configure()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch → ``{"batchItemFailures": [...]}``; schedule input → what was started."""
    if events.is_schedule(event):
        if events.schedule_job(event) == "monitor":
            return triggers.start_scheduled_monitoring(events.monitoring_request(event))
        return triggers.start_scheduled(events.schedule_request(event, "score"))
    return events.process_s3_batch(event, context, "score", triggers.start_scoring)
