"""The models a Dask training run publishes: fitted by partitions, served like any pipeline (``predict(frame)``).

Each takes the checked frame serving builds from the version's input schema,
fills a missing value with its column's training mean, and predicts:

- :class:`ConstantModel`: the baseline (training mean, or most frequent class);
- :class:`LinearModel`: ridge regression (or a ridge classifier, one score per
  class) on standardised columns, solved exactly from the partitions' sums of
  squares and cross products (:func:`ridge_from_gram`);
- :class:`BoostedModel`: a LightGBM booster trained with ``lightgbm.dask``,
  kept as LightGBM's model text (no Dask object is pickled).

Each also writes itself as ONNX (:meth:`to_onnx`), so serving runs it in
onnxruntime like the compiled scikit-learn pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

RIDGE_ALPHA = 1.0  # on standardised columns: a light penalty that keeps collinear columns solvable


@dataclass
class ColumnStats:
    """Per input column: the training mean (fills a missing value) and standard deviation (scales)."""

    columns: list[str]
    mean: np.ndarray
    scale: np.ndarray

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame's input columns as float64, missing values filled with the training means."""
        import numpy as np

        values = frame[self.columns].to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        if missing.any():
            values = np.where(missing, self.mean, values)
        return values


@dataclass
class ConstantModel:
    """Always the same answer: the training mean (regression) or most frequent class."""

    stats: ColumnStats
    answer: Any
    classes: list[Any] | None = None  # a classifier's classes (its answer is one of them)
    estimator: str = "dummy"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The answer, once per row."""
        import numpy as np

        return np.full(len(frame), self.answer, dtype=object if isinstance(self.answer, str) else None)


@dataclass
class LinearModel:
    """Ridge on standardised columns; classification: one ridge score per class, the highest wins."""

    stats: ColumnStats
    weights: np.ndarray  # (columns, outputs) on the standardised columns
    bias: np.ndarray  # (outputs,)
    classes: list[Any] | None = None
    estimator: str = "ridge_by_partitions"

    def decision(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores (rows, outputs)."""
        standard = (self.stats.matrix(frame) - self.stats.mean) / self.stats.scale
        return standard @ self.weights + self.bias

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels."""
        import numpy as np

        scores = self.decision(frame)
        if self.classes is None:
            return scores[:, 0]
        return np.asarray(self.classes, dtype=object)[np.argmax(scores, axis=1)]


@dataclass
class BoostedModel:
    """A LightGBM booster (its model text), trained with lightgbm.dask."""

    stats: ColumnStats
    model_text: str
    classes: list[Any] | None = None
    estimator: str = "lightgbm_dask"
    _booster: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_booster": None}  # the text pickles; the booster is remade on first use

    def booster(self) -> Any:
        """The LightGBM booster (made once per process)."""
        if self._booster is None:
            import lightgbm

            self._booster = lightgbm.Booster(model_str=self.model_text)
        return self._booster

    @property
    def rounds(self) -> int:
        """How many boosting rounds the booster holds."""
        return int(self.booster().current_iteration())

    def truncated(self, rounds: int) -> BoostedModel:
        """The same model with only its first ``rounds`` rounds (the number the validation rows chose)."""
        return BoostedModel(self.stats, self.booster().model_to_string(num_iteration=rounds), self.classes)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Values (regression) or class labels; LightGBM takes missing values itself."""
        return self._answer(self.booster().predict(self._values(frame), raw_score=True))

    def staged_predict(self, frame: pd.DataFrame, rounds: list[int]) -> list[np.ndarray]:
        """What the first ``rounds[i]`` rounds predict, for each ``i`` (ascending), at the cost of one predict.

        Each stretch of rounds adds its raw scores to the previous ones (LightGBM
        folds its starting average into the first round, so the sums are exact).
        """
        values = self._values(frame)
        answers, raw, start = [], None, 0
        for stop in rounds:
            stretch = self.booster().predict(values, start_iteration=start, num_iteration=stop - start, raw_score=True)
            raw = stretch if raw is None else raw + stretch
            answers.append(self._answer(raw))
            start = stop
        return answers

    def _values(self, frame: pd.DataFrame) -> np.ndarray:
        import numpy as np

        return frame[self.stats.columns].to_numpy(dtype="float64", na_value=np.nan)

    def _answer(self, raw: np.ndarray) -> np.ndarray:
        """Values from raw scores (regression), or the class labels they favour."""
        import numpy as np

        if self.classes is None:
            return np.asarray(raw, dtype="float64")
        if raw.ndim == 1:  # binary: the log-odds of the second class
            return np.asarray(self.classes, dtype=object)[(raw > 0).astype(int)]
        return np.asarray(self.classes, dtype=object)[np.argmax(raw, axis=1)]


def ridge_from_gram(gram: np.ndarray, cross: np.ndarray, rows: int, alpha: float = RIDGE_ALPHA) -> np.ndarray:
    """Ridge coefficients from the sums over partitions of ``Z'Z`` and ``Z'Y`` (Z: standardised columns then 1).

    The last row of the answer is the intercept, which is not penalised.
    """
    import numpy as np

    penalty = np.eye(gram.shape[0]) * alpha
    penalty[-1, -1] = 0.0
    return np.linalg.solve(gram + penalty, cross)


def plain_labels(values: Any) -> list[Any]:
    """Class labels as plain Python values (JSON in the manifest)."""
    return [value.item() if hasattr(value, "item") else value for value in values]
