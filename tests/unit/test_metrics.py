"""dropml's numpy metrics equal scikit-learn's on the same predictions, gaps in definition included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as m

from dropml.scoring.metrics import compute_metrics


def _sklearn_classification(y_true, y_pred, proba, classes):
    def auc() -> float | None:
        try:
            if len(classes) == 2:
                return float(m.roc_auc_score(y_true == classes[1], proba[:, 1]))
            return float(m.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        except ValueError:
            return None

    return {
        "accuracy": m.accuracy_score(y_true, y_pred),
        "f1_macro": m.f1_score(y_true, y_pred, average="macro", zero_division=0),
        "precision_macro": m.precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall_macro": m.recall_score(y_true, y_pred, average="macro", zero_division=0),
        "roc_auc": auc(),
    }


def _close(found: dict, expected: dict) -> None:
    for name, value in expected.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            assert found[name] is None, name
        else:
            assert found[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("seed", range(8))
def test_classification_metrics_equal_scikit_learns(n_classes, seed):
    rng = np.random.default_rng(seed)
    classes = np.array([f"c{i}" for i in range(n_classes)], dtype=object)
    rows = int(rng.integers(5, 300))
    y_true = classes[rng.integers(0, n_classes, rows)]
    y_pred = classes[rng.integers(0, n_classes - (seed % 2), rows)]  # odd seeds never predict the last class
    proba = rng.dirichlet(np.ones(n_classes), rows).round(int(rng.integers(1, 4)))  # rounding makes ties
    proba = proba / proba.sum(axis=1, keepdims=True)
    found = compute_metrics("classification", y_true, y_pred, proba, list(classes))
    _close(found, _sklearn_classification(y_true, y_pred, proba, list(classes)))


def test_auc_is_none_where_scikit_learn_refuses_it():
    classes = ["a", "b", "c"]
    proba = np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    assert compute_metrics("classification", ["a", "b"], ["a", "b"], proba[:, :2], classes)["roc_auc"] is None
    assert compute_metrics("classification", ["a", "b"], ["a", "b"], proba, classes)["roc_auc"] is None  # no "c"
    one_class = compute_metrics("classification", ["a", "a"], ["a", "b"], proba[:, :2], ["a", "b"])
    assert one_class["roc_auc"] is None
    not_probabilities = np.array([[0.2, 0.3, 0.9], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    assert (
        compute_metrics("classification", ["a", "b", "c"], ["a", "b", "c"], not_probabilities, classes)["roc_auc"]
        is None
    )


@pytest.mark.parametrize("seed", range(8))
def test_regression_metrics_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(2, 200))
    y_true = rng.normal(size=rows) * 10
    y_true[: rows // 5] = 0.0  # zeros: MAPE's epsilon
    y_pred = y_true + rng.normal(size=rows)
    found = compute_metrics("regression", y_true, y_pred)
    expected = {
        "rmse": math.sqrt(m.mean_squared_error(y_true, y_pred)),
        "mae": m.mean_absolute_error(y_true, y_pred),
        "r2": m.r2_score(y_true, y_pred),
        "mape": m.mean_absolute_percentage_error(y_true, y_pred),
    }
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_r2_of_a_constant_truth_and_of_one_row_follow_scikit_learn():
    assert compute_metrics("regression", [3.0, 3.0], [3.0, 3.0])["r2"] == m.r2_score([3.0, 3.0], [3.0, 3.0]) == 1.0
    assert compute_metrics("regression", [3.0, 3.0], [2.0, 3.0])["r2"] == m.r2_score([3.0, 3.0], [2.0, 3.0]) == 0.0
    assert compute_metrics("regression", [3.0], [2.0])["r2"] is None
