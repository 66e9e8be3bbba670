"""Step 6a's linear regression: a ridge whose answers stay within the range of targets it was trained on.

A tree ensemble never answers outside the targets it saw; a linear model
carries its slope on for as far as an input goes. On cross-sectional data a
row past the training range is an outlier no training row speaks for, and the
straight line is rarely the truth there. Statsmodels' Engel households show it:
food spending grows slower than income, and one household with 1.8 times the
largest income in training took the linear model's holdout RMSE from about
135 to 198. Bounded, the same model scores 135; over the 13 random-split
regression sets of the quality bench (3 splits each) bounding never lost on a
holdout (README, Quality).

Time-ordered projects keep the straight line (``bounded=False``, set by
:func:`dropml.training.models.build_estimator`): there the level drifts by
construction and carrying the trend on past the training range is the point
(crypto-ohlcv). Serving also flags every row outside the input range
(:mod:`dropml.scoring.ranges`), bounded or not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV


class BoundedRidgeCV(RidgeCV):
    """``RidgeCV`` whose predictions are clipped to ``[min, max]`` of the training target (``bounded=False``: not)."""

    def __init__(
        self,
        alphas: Any = (0.1, 1.0, 10.0),
        *,
        fit_intercept: bool = True,
        scoring: Any = None,
        cv: Any = None,
        gcv_mode: Any = None,
        store_cv_results: bool = False,
        alpha_per_target: bool = False,
        bounded: bool = True,
    ) -> None:
        super().__init__(
            alphas=alphas,
            fit_intercept=fit_intercept,
            scoring=scoring,
            cv=cv,
            gcv_mode=gcv_mode,
            store_cv_results=store_cv_results,
            alpha_per_target=alpha_per_target,
        )
        self.bounded = bounded

    def fit(self, X: Any, y: Any, **fit_params: Any) -> BoundedRidgeCV:  # noqa: N803 (scikit-learn's names)
        """Fit the ridge, and record the smallest and largest target it was fitted on."""
        super().fit(X, y, **fit_params)
        target = np.asarray(y, dtype="float64")
        self.target_min_, self.target_max_ = float(np.nanmin(target)), float(np.nanmax(target))
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        """The ridge's predictions, within the training target range when ``bounded``."""
        predicted = super().predict(X)
        return np.clip(predicted, self.target_min_, self.target_max_) if self.bounded else predicted
