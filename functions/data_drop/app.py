"""data_drop: a drop under data/<project>/ (S3 → SQS) → appended to the project's Parquet dataset.

No training starts here: the dataset trains on the project's schedule or on
request. A drop that does not fit the dataset is announced and dropped with
nothing appended; anything else (S3 throttling) is retried, then parked in the DLQ.
"""

from __future__ import annotations

from typing import Any

from dropml import events, logs
from dropml.usecases import drops

logs.configure()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch of S3 notifications → ``{"batchItemFailures": [...]}``."""
    return events.process_s3_batch(event, context, "drop", drops.append)
