"""Register a model trained elsewhere (pickle, Keras, ONNX) as the next version of a project, and announce it.

The model is proven on a sample row of its schema (:mod:`dropml.scoring.registered`),
scored on labelled rows when they are given (the same evaluation a live
version gets: :mod:`dropml.scoring.labelled`; they also give its training
profile, the reference of its drift reports), compiled when its steps have a
compiled form (:func:`dropml.training.compile.compile_registered`, checked on
those rows and rows drawn from its schema), and written like a trained
version, manifest last (:mod:`dropml.registry.byom`), so its manifest's put
publishes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropml import notify
from dropml.config import settings
from dropml.errors import BadInput
from dropml.manifest import InputSchema, Manifest
from dropml.monitoring.profile import build_profile
from dropml.registry import byom
from dropml.scoring.labelled import labelled_scores
from dropml.scoring.registered import checked_serving_pipeline
from dropml.scoring.validate import validate_frame
from dropml.storage import keys
from dropml.training.compile import compile_registered

if TYPE_CHECKING:
    import pandas as pd
from dropml.storage.csv_reader import read_csv_bytes


def register_model(
    project: str,
    model_bytes: bytes,
    schema_text: str,
    scaler_pickle: bytes | None = None,
    model_file_name: str = "model.pkl",
    labelled_csv: bytes | None = None,
    *,
    labelled_source: str = "labelled.csv",
    by: str = "cli",
) -> Manifest:
    """Register a pre-trained model (and scaler) as the next version of ``project``; returns its manifest.

    ``model_file_name``'s suffix tells the format (.h5/.keras Keras, .onnx ONNX,
    else a pickle). ``labelled_csv`` (the schema's columns plus the target)
    gives the leaderboard holdout metrics, computed like a trained model's.

    Raises:
        BadInput: the model, the scaler, the schema or the labelled rows are unusable, or the model fails on
            a sample row of its schema (or its output does not fit the schema).
    """
    keys.validate_project(project)
    schema = byom.parse_schema(schema_text)
    model_format = byom.model_format(model_file_name)
    scaler = byom.unpickle(scaler_pickle, "scaler.pkl") if scaler_pickle else None
    serving = checked_serving_pipeline(model_format, model_bytes, scaler, schema, model_file_name)
    metrics = dict(schema.metrics)
    labelled = None
    profile = None
    if labelled_csv is not None:
        holdout, labelled = _holdout_metrics(serving.pipeline, schema, labelled_csv, labelled_source)
        metrics.update(holdout)
        profile = _profile(schema, labelled_csv, labelled_source)
    compiled, not_compiled = compile_registered(
        serving.pipeline, InputSchema(columns=schema.columns), schema.task, labelled, model_format
    )
    manifest = byom.write_registered_version(
        project,
        serving.pipeline,
        serving.estimator,
        schema,
        (model_file_name, model_bytes),
        model_format,
        scaler is not None,
        metrics,
        compiled,
        not_compiled,
        profile,
    )
    notify.announce(
        "register", "succeeded", f"{project} v{manifest.version} registered", project, manifest.version, by=by
    )
    return manifest


def _profile(schema: byom.ModelSchema, body: bytes, source: str) -> bytes:
    """The training profile of the labelled rows (the drift reports' reference for this version)."""
    input_schema = InputSchema(columns=schema.columns)
    rows = validate_frame(input_schema, read_csv_bytes(body, source))
    return build_profile(input_schema, rows, settings().monitoring.drift.profile_points).to_bytes()


def _holdout_metrics(
    pipeline: Any, schema: byom.ModelSchema, body: bytes, source: str
) -> tuple[dict[str, float], pd.DataFrame]:
    """``holdout_<metric>`` of the model on labelled rows, by the evaluation every version gets; ``holdout_rows``.

    Also the labelled rows as checked, on which its compiled form is checked too.

    Raises:
        BadInput: the rows are not a CSV of the schema's columns plus the target, or the model refuses them.
    """

    checked_rows: list[pd.DataFrame] = []

    def predict(checked: Any) -> dict[str, Any]:
        checked_rows.append(checked)
        try:
            return {byom.MODEL_NAME: pipeline.predict(checked)}
        except Exception as err:  # the user's model refusing the user's rows is bad input
            raise BadInput("data", source, f"the model failed on the labelled data: {err}") from None

    scores = labelled_scores(
        body,
        source,
        schema=InputSchema(columns=schema.columns),
        target=schema.target,
        task=schema.task,
        config={},  # a registered model's label is its target column as it is
        predict=predict,
    )
    found = {f"holdout_{name}": value for name, value in scores.metrics[byom.MODEL_NAME].items() if value is not None}
    return {**found, "holdout_rows": float(scores.rows)}, checked_rows[0]
