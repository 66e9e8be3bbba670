"""Labels joined with the predictions they answer: labelled files, time-ordered rows, and the holdout check."""

from __future__ import annotations

import pytest

from dropml.monitoring.realized import (
    KeyedPredictions,
    LabelledPairs,
    below_holdout,
    combined,
    file_pairs,
    join_time_ordered,
    label_text,
    metrics_of,
    most_recent,
)


def test_a_labelled_files_rows_pair_label_and_prediction_as_text():
    pairs = file_pairs("classification", "req", "2026-12-01T10:00:00", ["1", 0, None, "2"], [1, 0.0, 1, 3])
    assert pairs.keys == ["req:1", "req:2", "req:4"]  # row 3 has no label
    assert (pairs.y_true, pairs.y_pred) == (["1", "0", "2"], ["1", "0", "3"])
    assert metrics_of("classification", pairs)["accuracy"] == pytest.approx(2 / 3)


def test_regression_pairs_are_numbers_and_score_like_the_holdout():
    pairs = file_pairs("regression", "r", "2026-12-01T10:00:00", ["1.5", 2, "x", 4.0], [1.0, 2.0, 3.0, 5.0])
    assert pairs.y_true == [1.5, 2.0, 4.0]  # "x" is no label
    assert metrics_of("regression", pairs)["mae"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_labels_normalise_so_a_csv_label_meets_a_predicted_one():
    assert [label_text(v) for v in ["1", 1, 1.0, " yes ", True, None, float("nan")]] == [
        "1", "1", "1", "yes", "True", None, None
    ]  # fmt: skip


def test_the_same_key_counts_once_from_its_earliest_prediction():
    first = LabelledPairs(["a", "b"], [1, 2], [1, 1], ["2026-12-01T01", "2026-12-01T02"])
    again = LabelledPairs(["b", "c"], [2, 3], [2, 3], ["2026-12-01T00", "2026-12-02T00"])
    joined = combined([first, again])
    assert joined.keys == ["b", "a", "c"]  # oldest first; b from its earlier prediction
    assert joined.y_pred == [2, 1, 3]
    assert most_recent(joined, 2).keys == ["a", "c"]


def _request(request_id, version, made_at, times, groups, targets, predicted):
    return KeyedPredictions(request_id, version, "live", made_at, times, groups, targets, predicted)


def test_each_days_rows_answer_the_previous_days_forecast_per_group():
    day1 = _request("r1", 1, "2026-12-01T00:05:00", ["2026-11-30", "2026-11-30"], ["BTC", "ETH"], [100, 10], [101, 11])
    day2 = _request("r2", 1, "2026-12-02T00:05:00", ["2026-12-01", "2026-12-01"], ["BTC", "ETH"], [103, 9], [104, 8])
    joined = join_time_ordered("regression", [day1, day2], horizon=1)
    pairs = joined[(1, "2026-12-01")]
    assert sorted(zip(pairs.keys, pairs.y_true, pairs.y_pred, strict=True)) == [
        ("2026-11-30T00:00:00.000000000|BTC", 103.0, 101.0),
        ("2026-11-30T00:00:00.000000000|ETH", 9.0, 11.0),
    ]
    assert (1, "2026-12-02") not in joined  # day 2's forecasts are not answered yet


def test_files_that_repeat_past_rows_count_each_prediction_once_and_the_horizon_counts_known_rows():
    times = ["2026-11-28", "2026-11-29", "2026-11-30"]
    first = _request("a", 2, "2026-12-01T00:00:00", times, None, [1, 2, 3], [2.1, 3.1, 4.1])
    times2 = ["2026-11-29", "2026-11-30", "2026-12-01"]
    second = _request("b", 2, "2026-12-02T00:00:00", times2, None, [2, 3, 4], [3.5, 4.5, 5.5])
    joined = join_time_ordered("regression", [first, second], horizon=2)
    day1 = joined[(2, "2026-12-01")]
    # horizon 2: 11-28 is answered by 11-30 (3), 11-29 by 12-01 (4); the 11-29 forecast of day 2 is a repeat
    assert list(zip(day1.y_true, day1.y_pred, strict=True)) == [(3.0, 2.1), (4.0, 3.1)]
    assert (2, "2026-12-02") not in joined


def test_only_the_asked_versions_predictions_are_answered_but_every_request_brings_labels():
    v1 = _request("a", 1, "2026-12-01T00:00:00", ["2026-12-01"], ["x"], [None], [5])
    v2 = _request("b", 2, "2026-12-02T00:00:00", ["2026-12-02"], ["x"], [7], [6])
    assert list(join_time_ordered("regression", [v1, v2], 1, version=1)) == [(1, "2026-12-01")]
    assert join_time_ordered("regression", [v1, v2], 1, version=2) == {}


def test_the_keys_line_of_the_audit_trail_reads_back():
    line = {
        "request_id": "r",
        "model_version": 3,
        "role": "challenger",
        "time": "2026-12-01T10:00:00.000+00:00",
        "keys": {"time": ["2026-12-01T00:00:00"], "group": ["BTC"], "target": [1.0], "predicted": [2.0]},
    }
    read = KeyedPredictions.from_json(line)
    assert (read.version, read.role, read.groups, read.predicted) == (3, "challenger", ["BTC"], [2.0])


@pytest.mark.parametrize(
    ("metric", "realized", "holdout", "below"),
    [
        ("f1_macro", 0.80, 0.90, True),  # 11 % worse
        ("f1_macro", 0.85, 0.90, False),  # 5.6 % worse: within 10 %
        ("holdout_accuracy", 0.95, 0.90, False),  # better
        ("rmse", 12.0, 10.0, True),  # lower is better: 20 % worse
        ("rmse", 10.5, 10.0, False),
        ("mape", 0.0, 0.0, False),
    ],
)
def test_realized_is_below_the_holdout_when_worse_by_more_than_the_relative_margin(metric, realized, holdout, below):
    verdict = below_holdout(metric, realized, holdout, 100, margin=0.1)
    assert verdict.below is below
    assert verdict.metric == metric.removeprefix("holdout_")


def test_no_holdout_or_no_realized_value_is_never_below():
    assert not below_holdout("f1_macro", None, 0.9, 100, 0.1).below
    assert not below_holdout("f1_macro", 0.1, None, 100, 0.1).below
