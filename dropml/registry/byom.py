"""Bring your own model: wrap a pre-trained scikit-learn-compatible model into a dropml version.

The model (and optional scaler) become one Pipeline ``preprocess → select →
model`` like every trained version, so it is served, audited, promoted and
rolled back the same way. A model that does not load, or does not predict on a
sample row built from its schema, is refused before anything is written.
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


class ModelSchema(BaseModel):
    """schema.json of a registered model: its input columns, target and task."""

    model_config = ConfigDict(extra="forbid")

    target: str = "target"
    task: str = Field(pattern="^(classification|regression)$")
    columns: list[ColumnSchema] = Field(min_length=1)
    classes: list[Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


def parse_schema(text: str, source: str = "schema.json") -> ModelSchema:
    """Parse and validate a model schema document.

    Raises:
        BadInput: not JSON, or a field is missing or wrong (named).
    """
    try:
        return ModelSchema.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise BadInput("schema", source, f"{source} is not valid JSON: {err.msg} at line {err.lineno}") from None
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BadInput(f"schema.{field}", source, f"{source}: {field}: {first['msg']}") from None


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


def register_model(project: str, model_pickle: bytes, schema_text: str, scaler_pickle: bytes | None = None) -> Manifest:
    """Register a pre-trained model (and scaler) as the next version of ``project``; returns its manifest.

    The version is published by its manifest's put, exactly like a trained one.

    Raises:
        BadInput: the pickle, the scaler or the schema is unusable, or the model fails on a sample row.
    """
    keys.validate_project(project)
    schema = parse_schema(schema_text)
    input_schema = InputSchema(columns=schema.columns)
    model = _unpickle(model_pickle, "model.pkl")
    scaler = _unpickle(scaler_pickle, "scaler.pkl") if scaler_pickle else None
    pipeline = checked_pipeline(model, scaler, input_schema)
    files = [
        VersionFile(MODEL_NAME, f"{MODEL_NAME}.pkl", _pickled(pipeline), "application/octet-stream"),
        VersionFile("leaderboard", keys.LEADERBOARD_NAME, _leaderboard(schema), "text/csv"),
    ]
    run_id = f"register-{uuid.uuid4().hex[:12]}"

    def manifest_for(version: int, created_at: str, artifacts: dict[str, Artifact]) -> Manifest:
        return Manifest(
            project=project,
            version=version,
            created_at=created_at,
            run_id=run_id,
            source="registered",
            code=CodeVersion.running(),
            config={"registered": True, "scaler": scaler is not None},
            target=schema.target,
            task=schema.task,  # type: ignore[arg-type]
            classes=schema.classes,
            input_schema=input_schema,
            artifacts=artifacts,
            models=[
                ModelEntry(
                    name=MODEL_NAME, estimator=type(model).__name__, artifact=MODEL_NAME, rank=1, metrics=schema.metrics
                )
            ],
            rank_metric=next(iter(schema.metrics), "none"),
            champion=MODEL_NAME,
        )

    return registry.write_version(project, run_id, lambda _version, _created: files, manifest_for)


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
    try:
        pipeline.predict(sample_frame(schema))
    except Exception as err:  # the user's model failing on its own schema is bad input
        raise BadInput(
            "model.pkl",
            type(model).__name__,
            f"the model failed to predict a sample row of its schema: {type(err).__name__}: {err}",
        ) from None
    return pipeline


def _pickled(pipeline: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def _leaderboard(schema: ModelSchema) -> bytes:
    import pandas as pd

    return pd.DataFrame([{"model": MODEL_NAME, "rank": 1, **schema.metrics}]).to_csv(index=False).encode()
