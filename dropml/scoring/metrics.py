"""How good predictions are: every metric of a task, computed one way for training's leaderboard and for evaluations.

Training ranks its models with these (cross-validation folds and the holdout),
and a labelled file evaluated against a live or a registered version is
scored by the same function (:mod:`dropml.scoring.labelled`), so the numbers
are comparable wherever they are shown.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape"})


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics computed for ``task``."""
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def compute_metrics(
    task: str, y_true: Any, y_pred: Any, proba: np.ndarray | None = None, classes: Any = None
) -> dict[str, float | None]:
    """Every metric of ``task`` for one set of predictions (None where undefined, e.g. AUC of one class)."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    if task == "regression":
        y_true, y_pred = y_true.astype(float), np.asarray(y_pred, dtype=float)
        return {
            "rmse": float(math.sqrt(m.mean_squared_error(y_true, y_pred))),
            "mae": float(m.mean_absolute_error(y_true, y_pred)),
            "r2": _safe(lambda: m.r2_score(y_true, y_pred)),
            "mape": float(m.mean_absolute_percentage_error(y_true, y_pred)),
        }
    y_true, y_pred, proba_classes = _as_codes(y_true, np.asarray(y_pred), classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {
            "accuracy": float(m.accuracy_score(y_true, y_pred)),
            "f1_macro": float(m.f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "precision_macro": float(m.precision_score(y_true, y_pred, average="macro", zero_division=0)),
            "recall_macro": float(m.recall_score(y_true, y_pred, average="macro", zero_division=0)),
            "roc_auc": None,
        }
        if proba is not None and proba_classes is not None:
            if len(proba_classes) == 2:
                scores["roc_auc"] = _safe(lambda: m.roc_auc_score(y_true == proba_classes[1], proba[:, 1]))
            else:
                scores["roc_auc"] = _safe(
                    lambda: m.roc_auc_score(y_true, proba, multi_class="ovr", labels=proba_classes)
                )
    return scores


def _as_codes(y_true: np.ndarray, y_pred: np.ndarray, classes: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """Class labels as integer codes (one per distinct label of ``classes``, truth and predictions), and the codes
    of ``classes`` in their order.

    Every metric is the same on the codes, and scikit-learn sorts text labels
    again in each metric: 1.7 s for 200,000 rows of two classes, 0.13 s on codes.
    """
    import pandas as pd

    known = np.asarray([] if classes is None else list(classes), dtype=object)
    # the classes first, so their codes are 0, 1, ... in their order (a multi-class AUC wants them ordered)
    codes = pd.factorize(np.concatenate([known, y_true.astype(object), y_pred.astype(object)]))[0]
    rows, first = len(y_true), len(known)
    class_codes = None if classes is None else codes[:first]
    return codes[first : first + rows], codes[first + rows :], class_codes


def _safe(compute: Any) -> float | None:
    try:
        value = float(compute())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
