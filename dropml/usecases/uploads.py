"""Score an uploaded CSV and keep its results, so the page's download link works from any server instance.

Results are kept in S3 under a random result id (``predictions/[<p>/]web-<id>.csv``):
Lambda containers share nothing, so the instance that answers the download
need not be the one that scored the file. Each upload gets a drift report
(:mod:`dropml.usecases.drift`).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dropml import audit, storage
from dropml.errors import NotFound
from dropml.scoring.predict import predict, prediction_column, results_csv, results_frame
from dropml.scoring.reasons import explanation_columns
from dropml.scoring.request_shapes import input_from_csv
from dropml.storage import keys
from dropml.usecases.drift import DriftSource, record_rows_drift
from dropml.usecases.predict import record_audit

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import Settings
    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.predict import Prediction

RESULT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ScoredUpload:
    """An uploaded file scored: the results table (inputs as uploaded plus predictions), its id, what was ignored."""

    project: str
    filename: str
    results: pd.DataFrame
    prediction: Prediction
    result_id: str
    ignored: list[str]
    drift: dict[str, Any] | None = None  # the upload's drift report (None when it could not be made)

    @property
    def prediction_columns(self) -> dict[str, str]:
        """The results' column of each model's predictions → the model's name."""
        return {prediction_column(name): name for name in self.prediction.by_model}

    @property
    def champion_column(self) -> str:
        """The results' column of the champion's predictions."""
        return prediction_column(self.prediction.champion)


@dataclass(frozen=True)
class KeptResults:
    """An upload's results as kept: the CSV, the uploaded file's name and the version that scored it."""

    body: bytes
    filename: str
    model_version: str


def score_upload(
    loaded: LoadedVersion, body: bytes, filename: str, request_id: str, conf: Settings, explain: bool = False
) -> ScoredUpload:
    """Score every row of an uploaded CSV with every model, keep the results in S3, and audit the request.

    ``explain``: the results get the champion's explanation columns (:mod:`dropml.scoring.reasons`).

    Raises:
        BadInput: unreadable CSV or rows that fail the schema (every problem by row and column).
        TooLarge: more rows than ``serving.max_batch_rows``.
    """
    started = time.perf_counter()
    given = input_from_csv(loaded.schema, body, conf.serving.max_batch_rows, filename, field="file")
    prediction = predict(loaded, given.rows, "all", request_id, conf=conf)
    inputs = given.as_sent()  # as uploaded: every column, an integer stays an integer
    explanation = explanation_columns(loaded, given.rows, prediction.champion_predictions, conf) if explain else None
    results = results_frame(inputs, prediction, explanation)
    result_id = uuid.uuid4().hex
    storage.put_bytes(
        _result_key(loaded.project, result_id),
        results_csv(results).encode(),
        "text/csv",
        metadata={"filename": filename[:200], "model-version": str(prediction.version), "request-id": request_id},
    )
    record_audit(prediction, audit.hash_inputs(body), "upload", started, inputs, conf, loaded)
    drift = record_rows_drift(loaded.manifest, DriftSource("upload", filename, request_id), given.rows)
    return ScoredUpload(loaded.project, filename, results, prediction, result_id, given.ignored, drift)


def kept_results(project: str, result_id: str) -> KeptResults:
    """The results of an upload of ``project`` kept under ``result_id``.

    Raises:
        NotFound: not a result id, or no such results (they are kept in S3).
    """
    if not RESULT_ID.match(result_id):
        raise NotFound(f"no result {result_id!r}")
    try:
        found = storage.get_bytes(_result_key(project, result_id))
    except NotFound:
        raise NotFound(f"no result {result_id!r} in project {project!r} (results are kept in S3)") from None
    return KeptResults(found.body, found.metadata.get("filename", "upload"), found.metadata.get("model-version", ""))


def _result_key(project: str, result_id: str) -> str:
    return keys.predictions_key(project, f"web-{result_id}.csv")
