"""Step 5: the ``select`` step of every pipeline: k-best, model-based, or none.

Both selectors cap at ``max_features`` and never fail when fewer features
exist (a small file or a heavy one-hot simply keeps what there is).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.feature_selection import SelectFromModel, SelectorMixin, f_classif, f_regression

from dropml.training.features import output_feature_names

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from dropml.config import FeatureSelectionSettings

SELECTOR_TREES = 50


class TopKFeatures(SelectorMixin, BaseEstimator):
    """Keep the ``max_features`` best-scoring features (univariate F test), or all when there are fewer."""

    def __init__(self, task: str = "classification", max_features: int = 30) -> None:
        self.task = task
        self.max_features = max_features

    def fit(self, X: Any, y: Any) -> TopKFeatures:  # noqa: N803
        """Score every feature against ``y`` and remember the best ``max_features``."""
        X = np.asarray(X, dtype=float)  # noqa: N806
        self.n_features_in_ = X.shape[1]
        keep = min(self.max_features, X.shape[1])
        if keep >= X.shape[1]:
            self.scores_ = np.full(X.shape[1], np.nan)
            self.mask_ = np.ones(X.shape[1], dtype=bool)
            return self
        score_func = f_classif if self.task == "classification" else f_regression
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # constant features score NaN: ranked last, not an error
            scores, _ = score_func(X, y)
        self.scores_ = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
        best = np.argsort(-self.scores_, kind="stable")[:keep]
        self.mask_ = np.zeros(X.shape[1], dtype=bool)
        self.mask_[best] = True
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.mask_


class FeatureCap:
    """A picklable ``max_features`` callable for SelectFromModel: at most ``limit``, at most what exists."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, X: Any) -> int:  # noqa: N803
        """The cap for ``X``."""
        return min(self.limit, X.shape[1])


def build_selector(conf: FeatureSelectionSettings, task: str, random_state: int) -> Any:
    """The ``select`` step configured by ``conf``: TopKFeatures, SelectFromModel(extra trees), or passthrough."""
    if conf.method == "none":
        return "passthrough"
    if conf.method == "k_best":
        return TopKFeatures(task=task, max_features=conf.max_features)
    trees = ExtraTreesClassifier if task == "classification" else ExtraTreesRegressor
    estimator = trees(n_estimators=SELECTOR_TREES, max_depth=8, random_state=random_state)
    return SelectFromModel(estimator, threshold=-np.inf, max_features=FeatureCap(conf.max_features))


def selected_features(pipeline: Pipeline) -> list[str]:
    """The names of the features a fitted pipeline's ``select`` step kept, in order."""

    names = output_feature_names(pipeline.named_steps["preprocess"])
    selector = pipeline.named_steps["select"]
    if selector is None or selector == "passthrough":
        return names
    mask = selector.get_support()
    return [name for name, keep in zip(names, mask, strict=True) if keep]
