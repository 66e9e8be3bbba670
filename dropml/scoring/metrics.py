"""How good predictions are: every metric of a task, computed one way for training's leaderboard and for evaluations.

Training ranks its models with these (cross-validation folds and the holdout),
and a labelled file evaluated against a live or a registered version is
scored by the same function (:mod:`dropml.scoring.labelled`), so the numbers
are comparable wherever they are shown.
"""

from __future__ import annotations

import math
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
    """Every metric of ``task`` for one set of predictions (None where undefined, e.g. AUC of one class).

    Computed in numpy, to scikit-learn's definitions (``tests/unit/test_metrics.py`` holds them equal), so realized
    accuracy can be measured wherever predictions are scored, including the lean web package without scikit-learn.
    """
    y_true = np.asarray(y_true)
    if task == "regression":
        y_true, y_pred = y_true.astype(float), np.asarray(y_pred, dtype=float)
        error = y_true - y_pred
        return {
            "rmse": float(math.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
            "r2": _r2(y_true, error),
            "mape": float(np.mean(np.abs(error) / np.maximum(np.abs(y_true), np.finfo(np.float64).eps))),
        }
    y_true, y_pred, proba_classes = _as_codes(y_true, np.asarray(y_pred), classes)
    precision, recall, f1 = _per_class_scores(y_true, y_pred)
    scores: dict[str, float | None] = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "f1_macro": float(np.mean(f1)),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "roc_auc": None,
    }
    if proba is not None and proba_classes is not None:
        scores["roc_auc"] = _roc_auc(y_true, np.asarray(proba, dtype=float), np.asarray(proba_classes))
    return scores


def _r2(y_true: np.ndarray, error: np.ndarray) -> float | None:
    """R², as scikit-learn gives it: undefined for under two rows; 1 for a perfect fit of a constant, else 0."""
    if len(y_true) < 2:
        return None
    residual = float(np.sum(error**2))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _per_class_scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 of every class seen in the truth or the predictions (0 where undefined)."""
    labels = np.union1d(y_true, y_pred)
    index_true, index_pred = np.searchsorted(labels, y_true), np.searchsorted(labels, y_pred)
    hits = np.bincount(index_true[y_true == y_pred], minlength=len(labels)).astype(float)
    true_count = np.bincount(index_true, minlength=len(labels)).astype(float)
    pred_count = np.bincount(index_pred, minlength=len(labels)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_count > 0, hits / pred_count, 0.0)
        recall = np.where(true_count > 0, hits / true_count, 0.0)
        f1 = np.where(true_count + pred_count > 0, 2 * hits / (true_count + pred_count), 0.0)
    return precision, recall, f1


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, class_codes: np.ndarray) -> float | None:
    """Area under the ROC curve: binary on the second class, else one-vs-rest averaged over ``class_codes``.

    None where scikit-learn refuses: a class without positives or negatives, truth outside the classes, or
    multi-class scores that are not probabilities, or scores not shaped one per row and class.
    """
    if proba.ndim != 2 or proba.shape != (len(y_true), len(class_codes)):
        return None
    if len(class_codes) == 2:
        return _binary_auc(y_true == class_codes[1], proba[:, 1])
    if not np.isin(y_true, class_codes).all() or not np.allclose(proba.sum(axis=1), 1.0):
        return None
    areas = [_binary_auc(y_true == code, proba[:, column]) for column, code in enumerate(class_codes)]
    return None if any(area is None for area in areas) else float(np.mean(areas))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """The Mann-Whitney form of the area: ties count half, as the trapezoids of scikit-learn's curve do."""
    positives = int(positive.sum())
    negatives = len(positive) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    ranks = np.empty(len(score))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # average 1-based rank of each tie group
    area = (ranks[positive].sum() - positives * (positives + 1) / 2.0) / (positives * negatives)
    return _finite(area)


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


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
