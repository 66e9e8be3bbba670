"""Score a request and audit it: the JSON/CSV API, the JSON lane in front of Flask, and the one-record form.

Every channel checks its rows against the live version's schema (with the one
row limit, ``serving.max_batch_rows``), predicts with every asked model, and
queues one audit record, here, so the Flask route and the JSON lane answer a
request the same way and the form is audited like the API. The rows of API
and form requests are offered to the audit trail's input sample (the daily
drift report's input); a time-ordered project's records keep their rows' keys
and predictions (realized accuracy).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import TYPE_CHECKING, Any

from dropml import audit
from dropml.audit import Channel
from dropml.scoring.predict import predict, results_csv, results_frame
from dropml.scoring.reasons import explanation_columns, explanation_json
from dropml.scoring.request_shapes import input_from_csv, input_from_json
from dropml.scoring.rows import as_frame
from dropml.scoring.validate import rows_from_records

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import Settings
    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.predict import Prediction
    from dropml.scoring.rows import CheckedRows
    from dropml.scoring.validate import ScoringInput

logger = logging.getLogger(__name__)

TRAFFIC_CHANNELS: frozenset[Channel] = frozenset({"json", "csv", "form"})  # a day of them: one drift report


def checked_csv(loaded: LoadedVersion, body: bytes, conf: Settings) -> ScoringInput:
    """A CSV request body's rows checked against ``loaded``'s schema (other columns ignored, named).

    Raises:
        BadInput: empty, binary or malformed CSV, or rows that fail the schema.
        TooLarge: more rows than ``serving.max_batch_rows``.
    """
    return input_from_csv(loaded.schema, body, conf.serving.max_batch_rows, "the CSV body")


def checked_json(loaded: LoadedVersion, document: Any, conf: Settings) -> ScoringInput:
    """A parsed JSON request body's rows (any accepted shape) checked against ``loaded``'s schema.

    Raises:
        BadInput: an unknown shape, an empty batch, or rows that fail the schema.
        TooLarge: more rows than ``serving.max_batch_rows``.
    """
    return input_from_json(loaded.schema, document, conf.serving.max_batch_rows)


def score_request(
    loaded: LoadedVersion,
    given: ScoringInput,
    models: str,
    body: bytes,
    channel: Channel,
    *,
    request_id: str,
    started: float,
    conf: Settings,
) -> Prediction:
    """Score a checked request with ``loaded`` and queue its audit record: the one scoring step of /predict.

    Raises:
        BadInput: a bad ``models`` choice, or a model refused the input.
    """
    prediction = predict(loaded, given.rows, models=models, request_id=request_id, conf=conf)  # type: ignore[arg-type]
    record_audit(prediction, audit.hash_inputs(body), channel, started, given.rows, conf, loaded)
    return prediction


def score_form(loaded: LoadedVersion, values: dict[str, str], request_id: str, conf: Settings) -> Prediction:
    """Score one record typed into the form (a blank field is missing) with every model, and audit it.

    Raises:
        BadInput: values that fail the schema (each problem names its field).
    """
    started = time.perf_counter()
    rows = form_rows(loaded, values)
    prediction = predict(loaded, rows, "all", request_id, engine="in-process", conf=conf)
    record_audit(prediction, form_sha(values), "form", started, rows, conf, loaded)
    return prediction


def form_rows(loaded: LoadedVersion, values: dict[str, str]) -> CheckedRows:
    """The one record typed into the form, checked against ``loaded``'s schema (a blank field is missing), as
    numpy arrays: the compiled models need no DataFrame.

    Raises:
        BadInput: values that fail the schema (each problem names its field).
    """
    record = {name: (value if value != "" else None) for name, value in values.items()}
    return rows_from_records(loaded.schema, [record])


def form_sha(values: dict[str, str]) -> str:
    """What the audit trail records of the form's values: their sha256 (see :func:`dropml.audit.hash_inputs`)."""
    return audit.hash_inputs(repr(sorted(values.items())).encode())


def record_audit(
    prediction: Prediction,
    body_sha: str,
    channel: Channel,
    started: float,
    inputs: CheckedRows | None,
    conf: Settings,
    loaded: LoadedVersion | None = None,
    role: audit.Role = "live",
) -> None:
    """Queue the request's audit record (written to S3 in the background); small requests keep their rows.

    The rows and outputs are queued as the frame and arrays they are: the
    buffer turns them into JSON when it writes, not while the caller waits.
    API and form rows are offered to the input sample; with ``loaded``, a
    time-ordered project's record keeps its rows' keys and predictions. A
    challenger's record (``role``) keeps its outputs and row keys, not the
    rows again, and offers nothing to the sample (the live record did).
    """
    live = role == "live"
    if live and channel in TRAFFIC_CHANNELS and inputs is not None:
        audit.sample_inputs(prediction.project, prediction.version, inputs, prediction.rows)
    small = prediction.rows <= conf.audit.store_inputs_max_rows
    audit.record_prediction(
        audit.prediction_record(
            request_id=prediction.request_id or "",
            project=prediction.project,
            model_version=prediction.version,
            champion=prediction.champion,
            models=list(prediction.by_model),
            engine=prediction.engine,
            rows=prediction.rows,
            inputs_sha256=body_sha,
            latency_ms=(time.perf_counter() - started) * 1000,
            channel=channel,
            inputs=inputs if small and live else None,
            outputs=dict(prediction.by_model) if small else None,
            outside_training_range=prediction.outside_range.counts() if prediction.outside_range is not None else None,
            role=role,
            row_keys=row_keys_of(loaded, inputs, prediction) if loaded is not None else None,
        )
    )


def row_keys_of(
    loaded: LoadedVersion, rows: CheckedRows | pd.DataFrame | None, prediction: Prediction
) -> audit.RowKeys | None:
    """A time-ordered project's rows as realized accuracy joins them (None for any other project)."""
    schema = loaded.schema
    if rows is None or not schema.time_column:
        return None
    return audit.RowKeys(
        functools.partial(as_frame, rows),
        schema.time_column,
        schema.group_column,
        loaded.manifest.target,
        prediction.champion_predictions,
    )


def answer_csv(inputs: pd.DataFrame, prediction: Prediction, explanation: dict[str, list[Any]] | None = None) -> str:
    """A CSV answer: the inputs (as sent) plus every prediction (and ``explanation``'s columns), text cells that
    look like formulas neutralised."""
    return results_csv(results_frame(inputs, prediction, explanation))


def explain_json(loaded: LoadedVersion, rows: CheckedRows, prediction: Prediction, conf: Settings) -> dict[str, Any]:
    """The champion's reasons for a JSON answer (``explanations``, or ``not_explained`` with why)."""
    return explanation_json(loaded, rows, prediction.champion_predictions, conf)


def explain_columns(
    loaded: LoadedVersion, rows: CheckedRows, prediction: Prediction, conf: Settings
) -> dict[str, list[Any]]:
    """The champion's reasons as the columns of a CSV answer (or one column saying why there are none)."""
    return explanation_columns(loaded, rows, prediction.champion_predictions, conf)


def flush_audit_if_asked(conf: Settings) -> None:
    """Write this invocation's audit records now when ``audit.flush_every_request`` (Lambda freezes after it)."""
    if not conf.audit.flush_every_request:
        return
    try:
        audit.flush()
    except Exception:  # records stay queued for the next flush; never fail the answer
        logger.exception("audit flush at the end of the request failed")
