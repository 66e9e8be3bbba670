"""train_trigger: an upload under train/ (S3 → SQS) or the weekly retrain schedule → start training.

Duplicates and ``s3:TestEvent`` start nothing; a bad key or an over-size file is
announced and dropped; a failed launch is retried and then lands in the DLQ.
"""

from __future__ import annotations

from typing import Any

from dropml import events, logs
from dropml.usecases import triggers

logs.configure()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch → ``{"batchItemFailures": [...]}``; schedule input → what was started."""
    if events.is_schedule(event):
        return triggers.start_scheduled(events.schedule_request(event, "train"))
    return events.process_s3_batch(event, context, "train", triggers.start_training)
