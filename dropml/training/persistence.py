"""The persistence baseline of time-ordered projects: tomorrow's value is today's.

A forecast that cannot beat "the next value equals the last one known" has
learnt nothing, so every time-ordered regression project gets this model as a
baseline row of its leaderboard (never its champion). Its pipeline has the
same ``preprocess``/``select``/``model`` steps as every other, so it is
pickled, published and served the same way; it reads the raw value of the
target's source column in the row being forecast, the latest value known
when the forecast is made: the label of row t is the source ``horizon`` steps
later, so no future value reaches it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from dropml.config import ModelSpec
from dropml.errors import ConfigError
from dropml.training.features import CoerceColumns

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from dropml.config import ModelSpec, TrainingSettings

PERSISTENCE_MODEL = "persistence"
PERSISTENCE_ESTIMATOR = "last_value"


class LastValueRegressor(RegressorMixin, BaseEstimator):
    """Predicts the value ``column`` has in each row: the last value known when the forecast is made.

    A row without that value gets the mean training label.
    """

    def __init__(self, column: str = "") -> None:
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any) -> LastValueRegressor:  # noqa: N803
        """Remember the mean label, the answer for rows whose last value is missing.

        Raises:
            ConfigError: ``X`` has no ``column``.
        """
        self._values(X)
        self.fallback_ = float(np.nanmean(np.asarray(y, dtype=float)))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """The last known value of ``column`` in each row (the mean training label where it is missing)."""
        values = self._values(X)
        return np.where(np.isnan(values), self.fallback_, values)

    def _values(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        if not isinstance(X, pd.DataFrame) or self.column not in X.columns:
            raise ConfigError(f"the persistence baseline needs column {self.column!r} in its input")
        return pd.to_numeric(X[self.column], errors="coerce").to_numpy(dtype=float)


def persistence_spec(conf: TrainingSettings, task: str) -> ModelSpec | None:
    """The persistence baseline's model spec for a time-ordered regression project; None for any other."""

    if not conf.time_column or task != "regression":
        return None
    return ModelSpec(estimator=PERSISTENCE_ESTIMATOR, params={"column": conf.target})


def persistence_pipeline(estimator: LastValueRegressor) -> Pipeline:
    """The baseline's pipeline: the source column coerced to a number, no selection, the last value as forecast."""
    from sklearn.pipeline import Pipeline

    preprocess = Pipeline([("coerce", CoerceColumns({estimator.column: "numeric"}))])
    return Pipeline([("preprocess", preprocess), ("select", "passthrough"), ("model", estimator)])
