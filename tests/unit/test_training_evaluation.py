"""Steps 6-7: splits without leakage, metrics, and a direction-aware leaderboard with the champion first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dropml.errors import BadInput, ConfigError
from dropml.scoring.metrics import compute_metrics
from dropml.training.evaluation import (
    ModelResult,
    fold_tasks,
    grouped_split,
    leaderboard_frame,
    random_split,
    rank_results,
    resolve_rank_metric,
    sample_folds,
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


def test_a_grouped_split_keeps_each_key_on_one_side_and_needs_enough_keys():
    rng = np.random.default_rng(0)
    keys = pd.Series(rng.integers(0, 60, 600))
    labels = pd.Series(np.where(keys % 3 == 0, "rare", "common"))  # a key's rows share a class
    split = grouped_split(labels, keys, "classification", 5, 0.2, 0)
    codes = keys.to_numpy()
    assert not set(codes[split.train]) & set(codes[split.holdout])
    assert sorted(np.concatenate([split.train, split.holdout])) == list(range(600))
    for fit, test in split.folds:
        assert not set(codes[split.train[fit]]) & set(codes[split.train[test]])
    assert set(labels.iloc[split.holdout]) == {"rare", "common"}  # stratified by whole keys
    assert split.kind == "StratifiedGroupKFold(5) by row key"
    with pytest.raises(BadInput) as caught:
        grouped_split(labels, keys % 4, "classification", 5, 0.2, 0)
    assert caught.value.field == "row_key"
    assert str(caught.value).startswith("only 4 distinct row key(s); a split by row key needs at least 5")


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_cv_on_a_big_train_part_folds_a_sample_and_tasks_carry_only_it(task):
    rng = np.random.default_rng(1)
    labels = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.6, 0.3, 0.1]))
    if task == "regression":
        labels = pd.Series(rng.normal(size=5000))
    split = random_split(labels, task, 5, 0.2, 0)
    sampled = sample_folds(split, labels, task, 1000, 0)
    assert (sampled.train is split.train, sampled.holdout is split.holdout) == (True, True)  # every row still fitted
    used = np.concatenate([test for _, test in sampled.folds])
    assert (len(used), len(set(used))) == (1000, 1000)  # each sampled row tested once
    assert sampled.kind.endswith(", cross-validated on 1,000 of the 4,000 training rows")
    if task == "classification":
        shares = labels.iloc[split.train[used]].value_counts(normalize=True)
        assert abs(shares["c"] - 0.1) < 0.01  # stratified
    assert sample_folds(split, labels, task, 4000, 0) is split  # small enough: unchanged
    features = pd.DataFrame({"row": np.arange(5000)})
    from sklearn.dummy import DummyRegressor

    tasks = fold_tasks(DummyRegressor(), features, labels, sampled, task)
    first = tasks[0].args  # (pipeline, features, labels, fit rows, test rows, task)
    assert len(first[1]) == 1000  # the sample, not the 5,000 rows, goes to each worker
    fit, test = sampled.folds[0]
    assert first[1]["row"].to_numpy()[first[3]].tolist() == split.train[fit].tolist()
    assert first[1]["row"].to_numpy()[first[4]].tolist() == split.train[test].tolist()


def test_a_grouped_sample_takes_whole_keys():
    rng = np.random.default_rng(2)
    keys = pd.Series(rng.integers(0, 500, 5000))
    labels = pd.Series(rng.normal(size=5000))
    split = grouped_split(labels, keys, "regression", 5, 0.2, 0)
    sampled = sample_folds(split, labels, "regression", 1000, 0, keys)
    codes = keys.to_numpy()[split.train]
    used = np.concatenate([test for _, test in sampled.folds])
    assert 1000 <= len(used) < 1100
    taken = set(codes[used])
    assert sum(codes == key for key in taken).sum() == len(used)  # every row of a taken key
    for fit, test in sampled.folds:
        assert not set(codes[fit]) & set(codes[test])


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
