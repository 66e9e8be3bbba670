"""Score a file put under ``test/``: its predictions written, its audit record, and its outcome announced.

The scoring job (``training_job.main score``, started by the batch_predict
function) and ``dropml predict`` (through that same job) run this; the work
itself is :func:`dropml.scoring.files.score_to_predictions`.
"""

from __future__ import annotations

import logging
import time
import uuid

from dropml import audit, notify
from dropml.config import settings
from dropml.errors import DropmlError
from dropml.logs import correlation, current_correlation_id
from dropml.scoring.files import ScoredFile, score_to_predictions
from dropml.storage import keys

logger = logging.getLogger(__name__)


def score_file(data_key: str, request_id: str | None = None) -> str:
    """Score ``test/[<p>/]<name>.csv`` with every model of project p's live version; returns the predictions key.

    Writes ``predictions/[<p>/]<name>.csv`` (see :func:`~dropml.scoring.files.score_to_predictions`),
    once per upload and version. Success and failure are announced on SNS (event
    ``scoring``); a file scored (not skipped as a duplicate) gets one audit record.

    Raises:
        BadInput: not a ``test/`` key, or bad rows/columns (422, every problem listed with its row).
        TooLarge: the file is over ``storage.max_scoring_bytes``.
        NotFound: no such file.
        NoLiveModel: the project has no live version.
        ChecksumMismatch: the live version's artifacts were tampered with.
    """
    parsed = keys.parse_data_key(data_key, kind="test")
    request_id = request_id or current_correlation_id() or uuid.uuid4().hex
    started = time.perf_counter()
    with correlation(request_id):
        try:
            scored = score_to_predictions(parsed, request_id, settings())
        except Exception as err:
            expected = isinstance(err, DropmlError)  # bad input or no live model: the message says it all
            logger.warning("scoring failed", extra={"key": data_key, "error": str(err)[:1000]}, exc_info=not expected)
            notify.announce(
                "scoring",
                "failed",
                f"scoring {data_key} failed",
                project=parsed.project,
                key=data_key,
                error=str(err)[:1000],
                error_type=type(err).__name__,
            )
            raise
        if not scored.skipped:
            _audit(parsed, request_id, scored, started)
            notify.announce(
                "scoring",
                "succeeded",
                f"scored {data_key} with {parsed.project} v{scored.version}",
                project=parsed.project,
                version=scored.version,
                key=data_key,
                predictions_key=scored.predictions_key,
                **scored.details,
            )
    return scored.predictions_key


def _audit(parsed: keys.DataKey, request_id: str, scored: ScoredFile, started: float) -> None:
    """Write the file's audit record now: a scoring job's process ends right after it."""
    details = scored.details
    audit.record_prediction(
        audit.prediction_record(
            request_id=request_id,
            project=parsed.project,
            model_version=scored.version,
            champion=details["champion"],
            models=details["models"],
            engine=details["engine"],
            rows=details["rows"],
            inputs_sha256=f"s3-etag:{details['source_etag']}",  # read where it lies: S3's ETag names the bytes
            latency_ms=(time.perf_counter() - started) * 1000,
            channel="file",
            predictions_key=scored.predictions_key,
            outside_training_range=details.get("outside_training_range"),
        )
    )
    audit.flush()
