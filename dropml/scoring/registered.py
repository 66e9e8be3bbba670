"""A registered model as a serving pipeline, proven to predict a sample row of its schema before anything is written.

A pickle is wrapped by :func:`dropml.registry.byom.wrap_model`; a Keras or
ONNX file becomes an :class:`~dropml.scoring.external_model.ExternalModel`
step. Either way the pipeline must predict one row built from the model's own
schema (and give output of the schema's shape), or the model is refused by
name. ``external_model`` subclasses scikit-learn's estimator, so it (and
scikit-learn) is imported only when a model is registered, never with the
web app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropml.errors import BadInput
from dropml.manifest import InputSchema
from dropml.registry.byom import ModelSchema, sample_frame, unpickle, wrap_model


@dataclass(frozen=True)
class ServingPipeline:
    """A registered model's checked pipeline and the estimator name the leaderboard shows."""

    pipeline: Any
    estimator: str


def checked_serving_pipeline(
    model_format: str, model_bytes: bytes, scaler: Any | None, schema: ModelSchema, file_name: str
) -> ServingPipeline:
    """The serving pipeline of a model file in ``model_format`` (``pickle``, ``keras-h5``, ``keras``, ``onnx``).

    Raises:
        BadInput: the model does not load or has no ``predict``, the scaler does not fit, or the model fails
            on a sample row of its schema (or its output does not fit the schema).
    """
    if model_format == "pickle":
        model = unpickle(model_bytes, file_name)
        return ServingPipeline(
            checked_pipeline(model, scaler, InputSchema(columns=schema.columns)), type(model).__name__
        )
    pipeline = checked_external_pipeline(model_format, model_bytes, scaler, schema, file_name)
    return ServingPipeline(pipeline, pipeline.named_steps["model"].estimator_name)


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
