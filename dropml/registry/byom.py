"""Bring your own model: wrap a pre-trained model (pickle, Keras .h5/.keras, ONNX) into a dropml version.

The model (and optional scaler) become one Pipeline ``preprocess → select →
model`` like every trained version, so it is served, audited, promoted and
rolled back the same way. A Keras or ONNX model is the pipeline's
:class:`~dropml.scoring.external_model.ExternalModel`, which applies the
schema's features, scaler and sequence window itself. A model that does not
load, or does not predict on a sample row built from its schema (output shape
included), is refused before anything is written. Labelled rows given at
registration are scored by the training's evaluation into holdout metrics.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropml.errors import BadInput
from dropml.manifest import Artifact, CodeVersion, ColumnSchema, InputSchema, Manifest, ModelEntry
from dropml.registry import versions as registry
from dropml.registry.versions import VersionFile
from dropml.storage import keys

MODEL_NAME = "registered"
# the model file's suffix → its format (anything else is a scikit-learn-compatible pickle)
FORMAT_BY_SUFFIX = {".h5": "keras-h5", ".hdf5": "keras-h5", ".keras": "keras", ".onnx": "onnx"}


class SequenceSchema(BaseModel):
    """schema.json ``sequence``: the model takes, per row, the last ``window`` rows of its group in time order."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(ge=1, le=10_000)
    time_column: str
    group_column: str | None = None


class ModelSchema(BaseModel):
    """schema.json of a registered model: its input columns, target and task, and how inputs are shaped.

    ``features`` are the columns fed to a Keras/ONNX model, in order (default:
    the numeric columns); ``scaled_output`` names the feature whose scaled units
    the model predicts in (its output is inverse-transformed by the scaler).
    """

    model_config = ConfigDict(extra="forbid")

    target: str = "target"
    task: str = Field(pattern="^(classification|regression)$")
    columns: list[ColumnSchema] = Field(min_length=1)
    classes: list[Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    features: list[str] | None = None
    sequence: SequenceSchema | None = None
    scaled_output: str | None = None

    def feature_columns(self) -> list[str]:
        """The columns a Keras/ONNX model is fed, in order."""
        if self.features is not None:
            return self.features
        return [c.name for c in self.columns if c.kind == "numeric"]

    def check_names(self) -> None:
        """Every column the shaping names is one of ``columns``.

        Raises:
            BadInput: a feature, sequence or scaled_output column is not declared (named).
        """
        declared = {c.name for c in self.columns}
        named = [("features", f) for f in self.features or []]
        if self.sequence is not None:
            named.append(("sequence.time_column", self.sequence.time_column))
            if self.sequence.group_column:
                named.append(("sequence.group_column", self.sequence.group_column))
        if self.scaled_output is not None:
            named.append(("scaled_output", self.scaled_output))
        for field, name in named:
            if name not in declared:
                raise BadInput(f"schema.{field}", name, f"schema.json: {field}: {name!r} is not one of the columns")
        if self.scaled_output is not None and self.scaled_output not in self.feature_columns():
            raise BadInput(
                "schema.scaled_output", self.scaled_output, "schema.json: scaled_output must be one of the features"
            )


def parse_schema(text: str, source: str = "schema.json") -> ModelSchema:
    """Parse and validate a model schema document.

    Raises:
        BadInput: not JSON, or a field is missing or wrong (named).
    """
    try:
        schema = ModelSchema.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise BadInput("schema", source, f"{source} is not valid JSON: {err.msg} at line {err.lineno}") from None
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BadInput(f"schema.{field}", source, f"{source}: {field}: {first['msg']}") from None
    schema.check_names()
    return schema


def _unpickle(body: bytes, what: str) -> Any:
    import joblib

    try:
        return joblib.load(io.BytesIO(body))
    except Exception as err:  # any failure to load is the caller's bad file
        raise BadInput(what, what, f"{what} could not be loaded as a pickle: {type(err).__name__}: {err}") from None


def sample_frame(schema: InputSchema) -> Any:
    """One plausible row per the schema: mid-range numbers, the first category, today's date."""
    import pandas as pd

    row: dict[str, Any] = {}
    for column in schema.columns:
        if column.kind == "categorical":
            row[column.name] = (column.categories or ["a"])[0]
        elif column.kind == "boolean":
            row[column.name] = False
        elif column.kind == "datetime":
            row[column.name] = "2024-01-01"
        else:
            low = column.minimum if column.minimum is not None else 0.0
            high = column.maximum if column.maximum is not None else low
            row[column.name] = (low + high) / 2
    return pd.DataFrame([row], columns=schema.names)


def columns_as_array(frame: Any, columns: list[str]) -> Any:
    """The schema's columns, in schema order, as a plain array: what a model fitted on arrays expects."""
    import numpy as np

    return np.asarray(frame[columns]) if hasattr(frame, "columns") else np.asarray(frame)


def wrap_model(model: Any, scaler: Any | None, schema: InputSchema) -> Any:
    """The Pipeline that serves a registered model, shaped like a trained one (preprocess, select, model)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    fitted_on_frames = hasattr(scaler if scaler is not None else model, "feature_names_in_")
    steps: list[tuple[str, Any]] = []
    if not fitted_on_frames:  # fitted on arrays: hand it an array in schema order, not a frame
        order = FunctionTransformer(columns_as_array, kw_args={"columns": schema.names})
        steps.append(("order", order))
    if scaler is not None:
        steps.append(("scale", scaler))
    preprocess = Pipeline(steps) if steps else "passthrough"
    return Pipeline([("preprocess", preprocess), ("select", "passthrough"), ("model", model)])


def model_format(file_name: str) -> str:
    """The format of a model file by its suffix: ``keras-h5``, ``keras``, ``onnx`` or ``pickle``."""
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    return FORMAT_BY_SUFFIX.get(suffix, "pickle")


def register_model(
    project: str,
    model_bytes: bytes,
    schema_text: str,
    scaler_pickle: bytes | None = None,
    model_file_name: str = "model.pkl",
    labelled_csv: bytes | None = None,
) -> Manifest:
    """Register a pre-trained model (and scaler) as the next version of ``project``; returns its manifest.

    ``model_file_name``'s suffix tells the format (.h5/.keras Keras, .onnx ONNX,
    else a pickle). ``labelled_csv`` (the schema's columns plus the target)
    gives the leaderboard holdout metrics, computed like a trained model's.
    The version is published by its manifest's put, exactly like a trained one.

    Raises:
        BadInput: the model, the scaler, the schema or the labelled rows are unusable, or the model fails on
            a sample row of its schema (or its output does not fit the schema).
    """
    keys.validate_project(project)
    schema = parse_schema(schema_text)
    input_schema = InputSchema(columns=schema.columns)
    fmt = model_format(model_file_name)
    scaler = _unpickle(scaler_pickle, "scaler.pkl") if scaler_pickle else None
    if fmt == "pickle":
        model = _unpickle(model_bytes, model_file_name)
        pipeline = checked_pipeline(model, scaler, input_schema)
        estimator = type(model).__name__
    else:
        pipeline = checked_external_pipeline(fmt, model_bytes, scaler, schema, model_file_name)
        estimator = pipeline.named_steps["model"].estimator_name
    metrics = dict(schema.metrics)
    if labelled_csv is not None:
        metrics.update(holdout_metrics(pipeline, schema, input_schema, labelled_csv))
    files = [
        VersionFile(MODEL_NAME, f"{MODEL_NAME}.pkl", _pickled(pipeline), "application/octet-stream"),
        VersionFile("leaderboard", keys.LEADERBOARD_NAME, _leaderboard(estimator, metrics), "text/csv"),
    ]
    if fmt != "pickle":  # the file as handed over, beside the pipeline built from it (checksummed too)
        files.append(VersionFile("source_model", f"source-{model_file_name}", model_bytes, "application/octet-stream"))
    run_id = f"register-{uuid.uuid4().hex[:12]}"
    config: dict[str, Any] = {"registered": True, "scaler": scaler is not None, "format": fmt}
    config["model_file"] = model_file_name
    if schema.sequence is not None:
        config["sequence"] = schema.sequence.model_dump()

    def manifest_for(version: int, created_at: str, artifacts: dict[str, Artifact]) -> Manifest:
        return Manifest(
            project=project,
            version=version,
            created_at=created_at,
            run_id=run_id,
            source="registered",
            code=CodeVersion.running(),
            config=config,
            target=schema.target,
            task=schema.task,  # type: ignore[arg-type]
            classes=schema.classes,
            input_schema=input_schema,
            artifacts=artifacts,
            models=[ModelEntry(name=MODEL_NAME, estimator=estimator, artifact=MODEL_NAME, rank=1, metrics=metrics)],
            rank_metric=_rank_metric(metrics),
            champion=MODEL_NAME,
        )

    return registry.write_version(project, run_id, lambda _version, _created: files, manifest_for)


def _rank_metric(metrics: dict[str, float]) -> str:
    holdout = [name for name in metrics if name.startswith("holdout_")]
    return (holdout or list(metrics) or ["none"])[0]


def checked_pipeline(model: Any, scaler: Any | None, schema: InputSchema) -> Any:
    """The serving pipeline of a registered model, after proving it predicts a sample row of its schema.

    Raises:
        BadInput: the model has no ``predict``, or fails on a row its own schema allows.
    """
    if not hasattr(model, "predict"):
        raise BadInput(
            "model.pkl", type(model).__name__, f"model.pkl holds a {type(model).__name__}, which has no predict()"
        )
    pipeline = wrap_model(model, scaler, schema)
    _predicts_a_sample(pipeline, schema, "model.pkl", type(model).__name__)
    return pipeline


def checked_external_pipeline(
    fmt: str, model_bytes: bytes, scaler: Any | None, schema: ModelSchema, file_name: str
) -> Any:
    """The serving pipeline of a Keras/ONNX model, after proving it loads and fits its schema on a sample row.

    Raises:
        BadInput: the model does not load, the scaler does not fit the features, or the model's output
            does not fit the schema (one value per row, or one score per class).
    """
    from sklearn.pipeline import Pipeline

    from dropml.scoring.external_model import ExternalModel, Sequence, load_runtime_model

    load_runtime_model(fmt, model_bytes, file_name)  # a file that does not load is refused by its name
    if schema.task == "classification" and not schema.classes:
        raise BadInput("schema.classes", None, "schema.json: classes is required for a Keras/ONNX classifier")
    sequence = Sequence(**schema.sequence.model_dump()) if schema.sequence else None
    model = ExternalModel(
        fmt,
        model_bytes,
        schema.feature_columns(),
        schema.task,
        schema.classes,
        scaler,
        sequence,
        schema.scaled_output,
    )
    pipeline = Pipeline([("preprocess", "passthrough"), ("select", "passthrough"), ("model", model)])
    _predicts_a_sample(pipeline, InputSchema(columns=schema.columns), file_name, model.estimator_name)
    return pipeline


def _predicts_a_sample(pipeline: Any, schema: InputSchema, what: str, estimator: str) -> None:
    from dropml.scoring.external_model import OutputShapeError

    try:
        pipeline.predict(sample_frame(schema))
    except OutputShapeError as err:
        raise BadInput(what, estimator, f"{what}: the model's output does not fit the schema: {err}") from None
    except Exception as err:  # the user's model failing on its own schema is bad input
        raise BadInput(
            what, estimator, f"the model failed to predict a sample row of its schema: {type(err).__name__}: {err}"
        ) from None


def holdout_metrics(pipeline: Any, schema: ModelSchema, input_schema: InputSchema, labelled_csv: bytes) -> dict:
    """``holdout_<metric>`` of the model on labelled rows, by the same evaluation as trained models.

    Raises:
        BadInput: the rows are not a CSV of the schema's columns plus the target, or the model refuses them.
    """
    import pandas as pd

    from dropml.scoring.validate import validate_frame
    from dropml.training.evaluation import compute_metrics

    try:
        raw = pd.read_csv(io.BytesIO(labelled_csv))
    except (ValueError, UnicodeDecodeError) as err:
        raise BadInput("data", "labelled.csv", f"the labelled data is not a readable CSV: {err}") from None
    if schema.target not in raw.columns:
        raise BadInput("data", schema.target, f"the labelled data has no target column {schema.target!r}")
    frame = validate_frame(input_schema, raw)
    try:
        predicted = pipeline.predict(frame)
    except Exception as err:  # the user's model refusing the user's rows is bad input
        raise BadInput("data", "labelled.csv", f"the model failed on the labelled data: {err}") from None
    found = compute_metrics(schema.task, raw[schema.target].to_numpy(), predicted)
    metrics = {f"holdout_{name}": value for name, value in found.items() if value is not None}
    return {**metrics, "holdout_rows": float(len(frame))}


def _pickled(pipeline: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def _leaderboard(estimator: str, metrics: dict[str, float]) -> bytes:
    import pandas as pd

    row = {"rank": 1, "model": MODEL_NAME, "estimator": estimator, "baseline": False, "champion": True, **metrics}
    return pd.DataFrame([row]).to_csv(index=False).encode()
