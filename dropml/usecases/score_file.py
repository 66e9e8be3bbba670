"""Score a file put under ``test/``: its predictions written, its audit record, and its outcome announced.

The scoring job (``training_job.main score``, started by the batch_predict
function) and ``dropml predict`` (through that same job) run this; the work
itself is :func:`dropml.scoring.files.score_to_predictions`. While the blocks
are scored, monitoring watches them (:mod:`dropml.monitoring.scored`): the
file's drift report follows (:mod:`dropml.usecases.drift`), and its labels, if
the target column is there, or for a time-ordered project the earlier
predictions its rows answer, become realized accuracy (:mod:`dropml.usecases.realized`).
Once the predictions are written, the project's challenger scores the file in
the shadow (nothing written under ``predictions/``; its audit record and
realized pairs only), and is held to the champion (:mod:`dropml.usecases.challenger`).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dropml import audit, notify
from dropml.config import settings
from dropml.errors import DropmlError
from dropml.logs import correlation, current_correlation_id
from dropml.monitoring.scored import BlockFindings, BlockWatcher, combine, file_watcher
from dropml.scoring.files import ScoredFile, score_to_predictions, score_without_writing
from dropml.scoring.version_cache import cached_version
from dropml.storage import keys
from dropml.usecases import challenger, realized
from dropml.usecases.drift import DriftSource, record_drift_safely
from dropml.usecases.shadow import ShadowOutcome, challenger_of

if TYPE_CHECKING:
    from dropml.manifest import Manifest
    from dropml.scoring.load import LoadedVersion

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
            scored = score_to_predictions(parsed, request_id, settings(), observer_for=_watcher)
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
            manifest = cached_version(parsed.project, scored.version).manifest
            findings = combine(scored.observed)
            _audit(parsed, request_id, scored, started, _row_keys(manifest, findings))
            made_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            shadowed = _score_in_shadow(parsed, request_id, scored.version, made_at)
            watched = _monitor(manifest, data_key, request_id, findings, made_at)
            if shadowed is not None:
                watched["challenger"] = shadowed.to_json()
            notify.announce(
                "scoring",
                "succeeded",
                f"scored {data_key} with {parsed.project} v{scored.version}",
                project=parsed.project,
                version=scored.version,
                key=data_key,
                predictions_key=scored.predictions_key or None,
                **scored.details,
                **watched,
            )
    return scored.predictions_key


def _watcher(loaded: LoadedVersion, estimated_rows: int) -> BlockWatcher:
    """What watches a file's blocks while they are scored (see :mod:`dropml.monitoring.scored`)."""
    max_rows = settings().monitoring.for_project(loaded.project).drift.max_rows
    return file_watcher(loaded.schema, loaded.manifest.target, estimated_rows, max_rows)


def _row_keys(manifest: Manifest, findings: BlockFindings | None) -> audit.RowKeys | None:
    """A time-ordered file's row keys and predictions, for the audit trail (realized accuracy joins them)."""
    schema = manifest.input_schema
    if findings is None or findings.keyed is None or not schema.time_column:
        return None
    return audit.RowKeys(findings.keyed, schema.time_column, schema.group_column, manifest.target, findings.predicted)


def _score_in_shadow(parsed: keys.DataKey, request_id: str, live_version: int, made_at: str) -> ShadowOutcome | None:
    """Score the file with the project's challenger after its predictions are written: audited with ``role:
    "challenger"`` under the same request id, its labels kept as the challenger's realized pairs.

    None when there is no challenger. Never raises: the predictions are written, and the challenger must not fail
    them (its failure is the outcome's ``error``).
    """
    version = challenger_of(parsed.project, live_version)
    if version is None:
        return None
    started = time.perf_counter()
    try:
        scored = score_without_writing(parsed, version, request_id, settings(), observer_for=_watcher)
        manifest = cached_version(parsed.project, version).manifest
        findings = combine(scored.observed)
        _audit(parsed, request_id, scored, started, _row_keys(manifest, findings), role="challenger")
        if findings is not None and findings.labels is not None:
            realized.record_file_labels(manifest, request_id, made_at, findings.labels, findings.predicted)
    except Exception as err:
        logger.warning(
            "challenger failed in the shadow",
            extra={"key": parsed.key, "version": version, "error": str(err)[:1000]},
            exc_info=not isinstance(err, DropmlError),
        )
        return ShadowOutcome(version, 0, time.perf_counter() - started, f"{type(err).__name__}: {err}")
    return ShadowOutcome(version, scored.details["rows"], time.perf_counter() - started)


def _monitor(
    manifest: Manifest, data_key: str, request_id: str, findings: BlockFindings | None, made_at: str
) -> dict[str, Any]:
    """The file's drift report, then its realized accuracy (the challenger's against the champion's first, then the
    live version's against its holdout); what the scoring announcement says of them.

    Never raises: the predictions are written, and monitoring must not fail them.
    """
    if findings is None:
        return {}
    said: dict[str, Any] = {}
    report = record_drift_safely(manifest, DriftSource("file", data_key, request_id), findings.observed)
    if report is not None:
        said.update(
            drift_report=report["key"], drifted_share=report["drifted_share"], drift_alerts=len(report["alerts"])
        )
    try:
        if findings.labels is not None:
            said["labelled_rows"] = realized.record_file_labels(
                manifest, request_id, made_at, findings.labels, findings.predicted
            )
        elif findings.keyed is not None:
            said["labelled_rows"] = sum(realized.join_time_ordered_predictions(manifest.project).values())
        if said.get("labelled_rows"):
            contest = challenger.check(manifest.project)
            if contest is not None:
                said["head_to_head"] = contest.head_to_head.to_json()
            verdict = realized.check_live(manifest.project)
            said["realized"] = verdict.to_json() if verdict is not None else None
    except Exception:
        logger.exception("realized accuracy failed", extra={"project": manifest.project, "key": data_key})
    return said


def _audit(
    parsed: keys.DataKey,
    request_id: str,
    scored: ScoredFile,
    started: float,
    row_keys: audit.RowKeys | None,
    role: audit.Role = "live",
) -> None:
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
            role=role,
            row_keys=row_keys,
        )
    )
    audit.flush()
