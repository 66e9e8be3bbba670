"""A Keras or ONNX model served like a scikit-learn estimator: ``predict(frame)`` gives one value per row.

A registered Keras/ONNX version pickles one :class:`ExternalModel` as its
pipeline's ``model`` step, so every channel (form, JSON, CSV, S3 files) scores
it through the same ``predict`` as a trained version, and the same shaping
runs everywhere: the schema's feature columns in order, the scaler, then (for
sequence models) a window of the last ``window`` rows of the same group in time
order. The model's bytes are pickled with it (checksummed by the manifest);
its runtime (keras or onnxruntime, optional extras) is imported only when the
version is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring import keras_models, onnx_runtime

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("keras-h5", "keras", "onnx")


class OutputShapeError(ValueError):
    """The model's output does not fit the schema (one value, or one score per class, per row)."""


@dataclass(frozen=True)
class Sequence:
    """Windowing for sequence models: each row is scored with the ``window`` rows ending at it, per group."""

    window: int
    time_column: str
    group_column: str | None = None


def _runtime(model_format: str) -> Any:
    return onnx_runtime if model_format == "onnx" else keras_models


def load_runtime_model(model_format: str, model_bytes: bytes, what: str = "model") -> Any:
    """The runtime's model object for ``model_bytes`` (a Keras model or an onnxruntime session).

    Raises:
        BadInput: the runtime extra is missing, or the bytes do not load.
    """
    if model_format == "onnx":
        return _runtime(model_format).session_from_bytes(model_bytes, what)
    return _runtime(model_format).load_model(model_bytes, model_format, what)


def windows(values: np.ndarray, frame: pd.DataFrame, sequence: Sequence) -> np.ndarray:
    """``(rows, window, features)``: for each row, the ``window`` rows of its group up to it, in time order.

    A row with fewer earlier rows in its group repeats the group's first row
    (edge padding), so every row gets a prediction. Rows keep their order.
    """
    import pandas as pd

    times = pd.to_datetime(frame[sequence.time_column], errors="coerce", format="mixed")
    groups = frame[sequence.group_column].astype(str) if sequence.group_column else pd.Series("", index=frame.index)
    order = pd.DataFrame({"group": groups.to_numpy(), "time": times.to_numpy(), "row": np.arange(len(frame))})
    order = order.sort_values(["group", "time", "row"], kind="stable")
    out = np.empty((len(frame), sequence.window, values.shape[1]), dtype=values.dtype)
    steps = np.arange(-sequence.window + 1, 1)
    for _group, rows in order.groupby("group", sort=False)["row"]:
        positions = rows.to_numpy()
        ladder = np.clip(np.arange(len(positions))[:, None] + steps[None, :], 0, None)
        out[positions] = values[positions[ladder]]
    return out


def _estimator_base() -> type:
    from sklearn.base import BaseEstimator

    return BaseEstimator


class ExternalModel(_estimator_base()):  # type: ignore[misc]  # a Pipeline step must be a scikit-learn estimator
    """A Keras/ONNX model plus the shaping its inputs need, with a scikit-learn style ``predict``."""

    def __init__(
        self,
        model_format: str,
        model_bytes: bytes,
        features: list[str],
        task: str,
        classes: list[Any] | None = None,
        scaler: Any | None = None,
        sequence: Sequence | None = None,
        scaled_output: str | None = None,
    ) -> None:
        self.model_format = model_format
        self.model_bytes = model_bytes
        self.features = list(features)
        self.task = task
        self.classes = classes
        self.scaler = scaler
        self.sequence = sequence
        self.scaled_output = scaled_output
        self._model = load_runtime_model(model_format, model_bytes)

    def fit(self, *_args: Any, **_kwargs: Any) -> ExternalModel:
        """Nothing to fit: the model came trained (scikit-learn requires the method of a Pipeline step)."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """Always fitted: it is a pre-trained model."""
        return True

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:  # noqa: N803  # never print the model's bytes
        return f"ExternalModel({self.model_format}, {len(self.model_bytes)} bytes, features={self.features})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_model", None)  # runtime objects do not pickle: the bytes are the model
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._model = load_runtime_model(self.model_format, self.model_bytes)

    @property
    def estimator_name(self) -> str:
        """What the leaderboard and models page call it, e.g. ``keras-h5 Sequential``."""
        return f"{self.model_format} {type(self._model).__name__}"

    def model_input(self, frame: pd.DataFrame) -> np.ndarray:
        """The array the model is fed: features in order, scaled, windowed when the schema says so."""
        values = np.asarray(frame[self.features], dtype="float64")
        if self.scaler is not None:
            values = np.asarray(self.scaler.transform(values), dtype="float64")
        if self.sequence is not None:
            return windows(values, frame, self.sequence)
        return values

    def raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's output array for ``frame``, before it is turned into one value per row."""
        return _runtime(self.model_format).run(self._model, self.model_input(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """One prediction per row: a number (regression) or a class label (classification).

        Raises:
            OutputShapeError: the model's output does not fit the schema.
        """
        return self.values_from_output(self.raw_output(frame), len(frame))

    def values_from_output(self, output: np.ndarray, rows: int) -> np.ndarray:
        """Map the model's output to one value per row, per the task (and undo the output's scaling).

        Raises:
            OutputShapeError: not one row of output per input row, or the wrong width for the task.
        """
        shape = tuple(output.shape)
        width = 1 if output.ndim == 1 else int(np.prod(shape[1:]))
        if output.ndim == 0 or shape[0] != rows:
            raise OutputShapeError(f"the model gave output of shape {shape} for {rows} rows")
        output = output.reshape(rows, width)
        if self.task == "regression":
            if width != 1:
                raise OutputShapeError(f"a regression model must give one value per row; it gave shape {shape}")
            return self._unscaled(output[:, 0].astype("float64"))
        classes = np.asarray(self.classes or [])
        if width == len(classes):
            return classes[np.argmax(output, axis=1)]
        if width == 1 and len(classes) == 2:  # a sigmoid: the probability of the second class
            return classes[(output[:, 0] >= 0.5).astype(int)]
        raise OutputShapeError(
            f"a classifier of {len(classes)} classes must give {len(classes)} scores (or 1 for 2 classes) per row;"
            f" it gave shape {shape}"
        )

    def _unscaled(self, values: np.ndarray) -> np.ndarray:
        """Values in the target's units: the model predicts ``scaled_output`` in the scaler's units."""
        if self.scaler is None or self.scaled_output is None:
            return values
        column = self.features.index(self.scaled_output)
        filled = np.zeros((len(values), len(self.features)))
        filled[:, column] = values
        return np.asarray(self.scaler.inverse_transform(filled))[:, column]
