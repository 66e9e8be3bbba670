"""model_published: a manifest written under models/ (S3 → SQS) → verify it, then make it live.

Every artifact's sha256 and the schema are checked before the project's SSM
parameter /<stack>/<project>/model-version moves; a bad manifest is rejected
and announced, and the live version stays.
"""

from __future__ import annotations

from typing import Any

from dropml import events, logs
from dropml.usecases import live

logs.configure()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch → ``{"batchItemFailures": [...]}``."""
    return events.process_s3_batch(event, context, "publish", live.publish)
