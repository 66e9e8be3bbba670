"""Steps 6-7: splits without leakage, metrics, and a direction-aware leaderboard with the champion first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dropml.errors import BadInput, ConfigError
from dropml.scoring.metrics import compute_metrics
from dropml.training.evaluation import (
    ModelResult,
    leaderboard_frame,
    random_split,
    rank_results,
    resolve_rank_metric,
    time_split,
)


def test_rank_metric_auto_and_validation():
    assert resolve_rank_metric("auto", "classification") == "f1_macro"
    assert resolve_rank_metric("auto", "regression") == "rmse"
    assert resolve_rank_metric("r2", "regression") == "r2"
    with pytest.raises(ConfigError) as caught:
        resolve_rank_metric("accuracy", "regression")
    assert str(caught.value) == "rank_metric 'accuracy' is not a regression metric; choose one of rmse, mae, r2, mape"


def test_classification_metrics_with_string_labels_and_probabilities():
    y_true = np.array(["b", "m", "m", "b"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    found = compute_metrics("classification", y_true, np.array(["b", "m", "b", "b"]), proba, ["b", "m"])
    assert found["accuracy"] == 0.75
    assert found["roc_auc"] == 1.0
    assert found["recall_macro"] == 0.75
    assert (
        compute_metrics("classification", np.array(["b", "b"]), np.array(["b", "b"]), proba[:2], ["b", "m"])["roc_auc"]
        is None
    )


def test_regression_metrics():
    found = compute_metrics("regression", [1.0, 2.0, 4.0], [1.0, 2.0, 2.0])
    assert found["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert found["mae"] == pytest.approx(2 / 3)
    assert found["mape"] == pytest.approx(0.5 / 3)


def test_random_split_is_stratified_and_refuses_too_few_rows():
    labels = pd.Series(["a"] * 80 + ["b"] * 20)
    split = random_split(labels, "classification", 5, 0.2, 0)
    assert len(split.holdout) == 20
    assert (labels.iloc[split.holdout] == "b").sum() == 4
    assert len(split.folds) == 5
    assert set(np.concatenate([test for _, test in split.folds])) == set(range(80))
    with pytest.raises(BadInput) as caught:
        random_split(labels.iloc[:12], "classification", 5, 0.2, 0)
    assert str(caught.value) == (
        "only 12 usable rows after cleaning; at least 20 are needed for cross-validation and a holdout"
    )


def test_time_split_holds_out_the_latest_time_and_leaves_a_horizon_gap():
    times = pd.Series(np.repeat(pd.date_range("2024-01-01", periods=50, freq="D"), 3))
    split = time_split(times, cv_folds=4, test_size=0.2, horizon=2)
    train_times, hold_times = times.iloc[split.train], times.iloc[split.holdout]
    assert hold_times.min() == pd.Timestamp("2024-02-10")
    assert train_times.max() == pd.Timestamp("2024-02-07")  # 2 steps gap: their targets lie in the holdout
    assert len(split.folds) == 4
    for fold_train, fold_test in split.folds:
        latest_train = train_times.iloc[fold_train].max()
        earliest_test = train_times.iloc[fold_test].min()
        assert (earliest_test - latest_train).days == 3  # gap of 2 whole steps, all groups together
    with pytest.raises(BadInput) as caught:
        time_split(times.iloc[:15], cv_folds=4, test_size=0.2, horizon=2)
    assert str(caught.value) == (
        "only 5 usable time steps after cleaning; at least 14 are needed for cross-validation and a holdout"
    )


def _result(name: str, rmse: float | None, baseline: bool = False) -> ModelResult:
    return ModelResult(name=name, estimator=name, pipeline=None, metrics={"rmse": rmse}, params={}, baseline=baseline)


def test_ranking_is_direction_aware_and_the_champion_is_never_the_baseline():
    ranked = rank_results([_result("a", 3.0), _result("b", 1.0), _result("c", None), _result("z", 2.0)], "rmse")
    assert [(r.name, r.rank) for r in ranked] == [("b", 1), ("z", 2), ("a", 3), ("c", 4)]
    ranked = rank_results([_result("base", 0.5, baseline=True), _result("a", 3.0), _result("b", 2.0)], "rmse")
    assert [r.name for r in ranked] == ["b", "base", "a"]
    r2 = [ModelResult("a", "a", None, {"r2": 0.2}, {}), ModelResult("b", "b", None, {"r2": 0.9}, {})]
    assert [r.name for r in rank_results(r2, "r2")] == ["b", "a"]


def test_leaderboard_columns():
    ranked = rank_results([_result("a", 2.0), _result("b", 1.0)], "rmse")
    board = leaderboard_frame(ranked, "regression")
    assert list(board.columns) == [
        "rank",
        "model",
        "estimator",
        "baseline",
        "champion",
        "rmse",
        "mae",
        "r2",
        "mape",
        "holdout_rmse",
        "holdout_mae",
        "holdout_r2",
        "holdout_mape",
        "fit_seconds",
        "predict_seconds",
        "params",
    ]
    assert board[["rank", "model", "champion"]].to_numpy().tolist() == [[1, "b", True], [2, "a", False]]
