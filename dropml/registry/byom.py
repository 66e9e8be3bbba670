"""A registered version: a pre-trained model (pickle, Keras .h5/.keras, ONNX), its schema, and how it is written.

The model (and optional scaler) become one Pipeline ``preprocess → select →
model`` like every trained version, so it is served, audited, promoted and
rolled back the same way (:func:`wrap_model` for a pickle; a Keras or ONNX
model is the pipeline's :class:`~dropml.scoring.external_model.ExternalModel`).
:func:`write_registered_version` writes it through the one version writer,
manifest last. Proving the model predicts its schema
(:mod:`dropml.scoring.registered`) and registering it
(:mod:`dropml.usecases.register`) happen above the registry.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dropml.errors import BadInput
from dropml.manifest import (
    PROFILE_ARTIFACT,
    Artifact,
    CodeVersion,
    ColumnSchema,
    CompiledForm,
    InputSchema,
    Manifest,
    ModelEntry,
)
from dropml.registry.versions import VersionFile, write_version
from dropml.storage import keys

MODEL_NAME = "registered"
COMPILED_ARTIFACT = f"{MODEL_NAME}.onnx"
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


def unpickle(body: bytes, what: str) -> Any:
    """The object pickled in ``body`` (a scikit-learn model or scaler); ``what`` names the file in errors.

    Raises:
        BadInput: the bytes do not unpickle.
    """
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


def _rank_metric(metrics: dict[str, float]) -> str:
    holdout = [name for name in metrics if name.startswith("holdout_")]
    return (holdout or list(metrics) or ["none"])[0]


def _pickled(pipeline: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def _leaderboard(estimator: str, metrics: dict[str, float]) -> bytes:
    import pandas as pd

    row = {"rank": 1, "model": MODEL_NAME, "estimator": estimator, "baseline": False, "champion": True, **metrics}
    return pd.DataFrame([row]).to_csv(index=False).encode()


def write_registered_version(
    project: str,
    pipeline: Any,
    estimator: str,
    schema: ModelSchema,
    model_file: tuple[str, bytes],
    model_format_name: str,
    scaler_given: bool,
    metrics: dict[str, float],
    compiled: Any = None,
    not_compiled: str | None = None,
    profile: bytes | None = None,
) -> Manifest:
    """Write a checked serving ``pipeline`` as the next version of ``project``; returns its manifest.

    ``model_file`` is the file as handed over (its name and bytes): a Keras or ONNX file is kept beside the
    pipeline built from it (checksummed too). ``compiled`` is its compiled form (a
    :class:`dropml.training.compile.CompiledModel`: served without scikit-learn), ``not_compiled`` why it has
    none. ``profile``: the training profile made from labelled rows, when some were given (the ``profile``
    artifact). The version is published by its manifest's put, exactly like a trained one.
    """
    model_file_name, model_bytes = model_file
    input_schema = InputSchema(columns=schema.columns)
    files = [
        VersionFile(MODEL_NAME, f"{MODEL_NAME}.pkl", _pickled(pipeline), "application/octet-stream"),
        VersionFile("leaderboard", keys.LEADERBOARD_NAME, _leaderboard(estimator, metrics), "text/csv"),
    ]
    if compiled is not None:
        files.append(VersionFile(COMPILED_ARTIFACT, COMPILED_ARTIFACT, compiled.body, "application/octet-stream"))
    if model_format_name != "pickle":
        files.append(VersionFile("source_model", f"source-{model_file_name}", model_bytes, "application/octet-stream"))
    if profile is not None:
        files.append(VersionFile(PROFILE_ARTIFACT, keys.PROFILE_NAME, profile, "application/json"))
    run_id = f"register-{uuid.uuid4().hex[:12]}"
    config: dict[str, Any] = {"registered": True, "scaler": scaler_given, "format": model_format_name}
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
            models=[
                ModelEntry(
                    name=MODEL_NAME,
                    estimator=estimator,
                    artifact=MODEL_NAME,
                    rank=1,
                    metrics=metrics,
                    compiled=_compiled_form(compiled),
                    not_compiled=not_compiled,
                )
            ],
            rank_metric=_rank_metric(metrics),
            champion=MODEL_NAME,
            profile=PROFILE_ARTIFACT if profile is not None else None,
        )

    return write_version(project, run_id, lambda _version, _created: files, manifest_for)


def _compiled_form(compiled: Any) -> CompiledForm | None:
    if compiled is None:
        return None
    return CompiledForm(
        artifact=COMPILED_ARTIFACT,
        input_columns=compiled.input_columns,
        checked_rows=compiled.checked_rows,
        max_difference=compiled.max_difference,
    )
