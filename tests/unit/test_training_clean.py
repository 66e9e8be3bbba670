"""Step 2: cleaning decides each column's kind and records every action it takes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dropml.config import TrainingSettings
from dropml.errors import BadInput
from dropml.training.clean import clean_frame, decide_task


def _conf(**overrides) -> TrainingSettings:
    return TrainingSettings(**overrides)


def _actions(result) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for action in result.quality["actions"]:
        found.setdefault(action["action"], []).append(action)
    return found


def _frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + rows),
            "age": rng.integers(18, 80, rows),
            "income": [f"{v:.2f}" for v in rng.normal(50_000, 5_000, rows)],
            "joined": pd.date_range("2024-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "country": ["NL"] * rows,
            "active": rng.choice(["yes", "no"], rows),
            "target": rng.choice(["churn", "stay"], rows),
        }
    )


def test_kinds_are_inferred_and_useless_columns_dropped_with_reasons():
    result = clean_frame(_frame(), _conf())
    assert result.kinds == {
        "age": "numeric",
        "income": "numeric",
        "joined": "datetime",
        "plan": "categorical",
        "active": "boolean",
    }
    assert result.task == "classification"
    dropped = {a["column"]: a["reason"] for a in _actions(result)["dropped_column"]}
    assert dropped == {"customer_id": "id_like", "country": "constant"}
    assert result.frame["income"].dtype == float
    assert str(result.frame["joined"].dtype).startswith("datetime64")
    assert set(result.frame["active"]) == {0.0, 1.0}
    assert list(result.frame.columns) == [*result.kinds, "target"]


def _removed(result) -> int:
    return sum(action.get("rows", 0) for action in result.quality["actions"])


def test_repeated_rows_are_kept_and_counted_and_missing_targets_dropped_and_counted():
    frame = _frame(30)
    frame = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    frame.loc[5, "target"] = None
    frame.loc[6, "target"] = "  n/a "
    result = clean_frame(frame, _conf())
    actions = _actions(result)
    assert result.quality["repeated_rows"] == 3
    assert actions["kept_repeated_rows"][0]["message"].startswith(
        "3 row(s) (9%) repeat an earlier row exactly (30 distinct rows); all are kept"
    )
    assert actions["dropped_missing_target"][0]["message"] == "2 row(s) without a target value dropped"
    assert result.quality["rows_in"] == 33
    assert result.quality["rows_out"] == 31
    assert result.quality["rows_removed"] == _removed(result) == 2


def test_a_file_of_few_distinct_answers_keeps_every_row():
    # a survey: 1,000 rows, 12 distinct answers; dropping repeats would leave 12 rows to train on
    rng = np.random.default_rng(1)
    answers = pd.DataFrame({"q1": rng.choice(["a", "b", "c"], 1000), "q2": rng.choice(["x", "y"], 1000)})
    frame = answers.assign(target=np.where(answers["q1"] == "a", "yes", "no"))
    result = clean_frame(frame, _conf())
    assert len(result.frame) == 1000
    assert result.quality["repeated_rows"] == 1000 - len(frame.drop_duplicates())
    assert result.quality["rows_removed"] == 0
    assert "warnings" in result.quality
    assert not any("without a recorded reason" in w for w in result.quality["warnings"])


def test_a_row_key_kept_latest_replaces_earlier_versions_of_a_record():
    frame = pd.DataFrame(
        {
            "order": ["o1", "o2", "o1", "o3", None, None] * 5,
            "amount": [10.0, 20.0, 11.0, 30.0, 5.0, 5.0] * 5,
            "target": ["a", "b", "a", "b", "a", "a"] * 5,
        }
    )
    frame["order"] = [None if pd.isna(o) else f"{o}-{i // 6}" for i, o in enumerate(frame["order"])]
    result = clean_frame(frame, _conf(row_key=["order"], repeated_row_keys="keep_latest"))
    action = _actions(result)["kept_latest_per_row_key"][0]
    assert action["rows"] == 5  # each o1-k's first version
    assert action["message"] == "5 earlier version(s) of a record replaced by a later row with the same order"
    assert len(result.frame) == 25  # rows without a key are all kept
    assert 10.0 not in set(result.frame["amount"])  # the latest version of o1 (11.0) won
    assert "order" not in result.kinds  # the key groups the splits; it is not a feature
    assert result.groups is not None
    assert result.groups.nunique() == 15 + 10
    assert result.quality["rows_removed"] == _removed(result) == 5


def test_a_row_key_kept_all_keeps_every_row_and_groups_them():
    frame = pd.DataFrame({"who": ["p1", "p1", "p2", "p2", "p3"] * 8, "x": [0.5, 1.5] * 20, "target": ["a", "b"] * 20})
    result = clean_frame(frame, _conf(row_key=["who"]))
    assert len(result.frame) == 40
    assert list(result.kinds) == ["x"]
    codes = result.groups.to_numpy()
    assert codes[0] == codes[1] != codes[2]


def test_a_row_key_that_is_not_a_column_is_named():
    with pytest.raises(BadInput) as caught:
        clean_frame(_frame(), _conf(row_key=["order_id"]))
    assert caught.value.field == "row_key"
    assert str(caught.value).startswith("row_key column(s) 'order_id' not in the file; found: customer_id, age")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"repeated_row_keys": "keep_latest"}, "repeated_row_keys needs a row_key"),
        ({"row_key": ["a", "a"]}, "must name distinct columns other than the target"),
        ({"row_key": ["target"]}, "must name distinct columns other than the target"),
        ({"row_key": ["a"], "time_column": "t"}, "is for projects without a time_column"),
    ],
)
def test_row_key_settings_are_checked(settings, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        _conf(**settings)


def test_a_few_junk_regression_targets_are_dropped_and_counted():
    x = np.random.default_rng(2).normal(size=60).round(3)
    frame = pd.DataFrame({"x": x, "target": [str(v) for v in x * 2]})
    frame.loc[7, "target"] = "oops"
    result = clean_frame(frame, _conf(task="regression"))
    action = _actions(result)["dropped_unreadable_target"][0]
    assert (action["rows"], action["message"]) == (1, "1 row(s) whose target is not a number dropped, e.g. oops")
    assert result.quality["rows_out"] == 59
    assert result.quality["rows_removed"] == 1


def test_single_row_classes_are_counted_in_rows():
    frame = _frame(40)
    frame.loc[[3, 9], "target"] = ["odd", "other"]
    result = clean_frame(frame, _conf())
    action = _actions(result)["dropped_rare_classes"][0]
    assert (action["count"], action["rows"]) == (2, 2)
    assert result.quality["rows_removed"] == _removed(result) == 2


def test_a_little_junk_in_a_numeric_column_becomes_missing():
    frame = _frame(40)
    frame.loc[3, "income"] = "unknown"
    result = clean_frame(frame, _conf())
    action = _actions(result)["coerced_junk_to_missing"][0]
    assert action["column"] == "income"
    assert action["count"] == 1
    assert action["examples"] == ["unknown"]
    assert np.isnan(result.frame.loc[3, "income"])
    assert result.quality["missing_values"] == {"income": 1}


def test_a_numeric_column_full_of_junk_is_refused_with_examples():
    frame = _frame(40)
    frame.loc[:9, "income"] = ["abc", "oops", "abc", "#REF!", "x", "x", "x", "x", "x", "x"]
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf())
    assert caught.value.field == "income"
    assert str(caught.value).startswith(
        "column 'income' looks numeric but 10 of 40 values (25%) are not numbers, e.g. 'abc', 'oops', '#REF!', 'x'"
    )


def test_missing_markers_are_missing_values_not_junk():
    frame = _frame(40)
    frame.loc[[1, 2, 3], "income"] = ["?", "NULL", " - "]
    result = clean_frame(frame, _conf())
    assert "coerced_junk_to_missing" not in _actions(result)
    assert result.quality["missing_values"] == {"income": 3}


def test_missing_target_column_lists_the_columns_found_and_says_how_to_name_one():
    with pytest.raises(BadInput) as caught:
        clean_frame(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), _conf(target="label"))
    assert str(caught.value) == (
        "target 'label' is not a column of the file; found: a, b. Name the column to predict in the project's "
        "training settings (target: projects.<project>.target in config.json, or the project's stored settings), "
        "or retrain on this file with `dropml train <project> --set target=<column>`"
    )
    assert caught.value.field == "target"


def test_missing_default_target_suggests_a_column_differing_in_case_and_caps_a_long_list():
    frame = pd.DataFrame({**{f"c{i}": [1, 2] for i in range(40)}, "Target": ["a", "b"]})
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf())
    message = str(caught.value)
    assert message.startswith("target 'target' is not a column of the file; found: c0, c1, ")
    assert ", c29, … and 11 more. did you mean 'Target'? Name the column to predict" in message


def test_single_class_target_is_refused():
    frame = _frame(30).assign(target="stay")
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf())
    assert str(caught.value) == (
        "target 'target' has a single class ('stay' (30 rows)); classification needs at least 2 classes"
    )


def test_high_cardinality_text_is_dropped_and_medium_cardinality_capped():
    rows = 200
    frame = pd.DataFrame(
        {
            "comment": [f"free text number {i % 150}" for i in range(rows)],
            "city": [f"city{i % 60}" for i in range(rows)],
            "x": np.linspace(0, 1, rows),
            "target": ["a", "b"] * (rows // 2),
        }
    )
    result = clean_frame(frame, _conf(max_categories=20))
    actions = _actions(result)
    assert [(a["column"], a["reason"]) for a in actions["dropped_column"]] == [("comment", "high_cardinality")]
    assert actions["capped_categories"][0]["message"] == (
        "column 'city': 60 distinct values; the 19 most frequent are encoded, the rest grouped as 'infrequent'"
    )
    assert result.kinds == {"city": "categorical", "x": "numeric"}


def test_time_ordered_target_is_the_value_horizon_steps_ahead_per_group():
    frame = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-02", "2024-01-03"] * 2,
            "symbol": ["A"] * 3 + ["B"] * 3,
            "open": [1.0, 2.0, 3.0, 10.0, 20.0, 30.0],
            "volume": [5.0, 6.0, 7.0, 8.0, 9.0, 11.0],
        }
    )
    conf = _conf(target="open", task="regression", time_column="date", group_column="symbol", horizon=1)
    result = clean_frame(frame, conf)
    assert result.target == "open_ahead_1"
    assert result.kinds == {"date": "datetime", "symbol": "categorical", "open": "numeric", "volume": "numeric"}
    ordered = result.frame.sort_values(["symbol", "date"])
    assert ordered["open"].tolist() == [1.0, 2.0, 10.0, 20.0]
    assert ordered["open_ahead_1"].tolist() == [2.0, 3.0, 20.0, 30.0]
    assert result.frame["date"].is_monotonic_increasing
    action = _actions(result)["derived_time_target"][0]
    assert action["message"] == "target = 'open' 1 step(s) ahead per symbol; 2 row(s) without a future value dropped"


def test_time_ordered_rows_without_a_time_or_group_and_earlier_versions_of_a_key_are_counted():
    days = [f"2024-01-{d:02d}" for d in range(1, 31)]
    frame = pd.DataFrame({"date": days * 2, "symbol": ["A"] * 30 + ["B"] * 30, "open": np.arange(60.0)})
    frame.loc[3, "date"] = None  # no time
    frame.loc[40, "symbol"] = ""  # no group (a blank cell)
    correction = frame.iloc[[10]].assign(open=999.0)  # a later row for A on 2024-01-11
    frame = pd.concat([frame, correction], ignore_index=True)
    conf = _conf(target="open", task="regression", time_column="date", group_column="symbol")
    result = clean_frame(frame, conf)
    actions = _actions(result)
    assert actions["dropped_missing_time"][0]["rows"] == 1
    assert actions["dropped_missing_group"][0]["rows"] == 1
    assert actions["dropped_duplicate_time_keys"][0]["message"] == (
        "1 earlier version(s) of a record replaced by a later row with the same symbol/date"
    )
    assert 999.0 in set(result.frame["open"])  # the later version won
    assert result.quality["rows_in"] - result.quality["rows_out"] == result.quality["rows_removed"] == _removed(result)


def test_time_column_that_is_not_dates_is_refused():
    frame = pd.DataFrame({"when": ["soon", "later", "never"] * 5, "open": range(15), "x": range(15)})
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf(target="open", time_column="when"))
    assert str(caught.value) == "time column 'when' does not parse as dates, e.g. soon, later, never"


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (["a", "b", "a"] * 10, "classification"),
        ([0, 1, 1] * 10, "classification"),
        ([True, False, True] * 10, "classification"),
        (list(np.linspace(0, 100, 30)), "regression"),
        (list(range(30)), "regression"),
    ],
)
def test_task_is_inferred_from_the_target(labels, task):
    assert decide_task(pd.Series(labels), "auto") == task


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        ([1.0, 2.0] * 15, "classification"),  # float-coded classes
        ([0.5, 1.5, 2.5] * 10, "regression"),  # fractions are quantities
        (list(range(10)) * 10, "classification"),  # 0..9, 10 rows per value
        (list(range(25)) * 10, "regression"),  # 25 whole-number levels: more than 20
        (list(range(12)) * 2, "regression"),  # 12 levels in 24 rows: too few rows per value
        (["0", "1", "1"] * 10, "classification"),  # numbers read as text (a '?' elsewhere in the column)
        ([str(v) for v in np.linspace(0, 50, 60)], "regression"),
        (["yes", "Yes ", "YES", "no"] * 10, "classification"),
    ],
)
def test_auto_task_rule_for_float_coded_text_and_many_levels(labels, task):
    assert decide_task(pd.Series(labels), "auto") == task
    assert decide_task(pd.Series(labels), "regression" if task == "classification" else "classification") != task


def _labels_after_cleaning(values: list, **conf) -> tuple[pd.Series, dict]:
    rows = len(values)
    frame = pd.DataFrame({"x": np.arange(rows) % 7, "target": values})
    result = clean_frame(frame, _conf(**conf))
    return result.labels, result.quality


@pytest.mark.parametrize(
    ("values", "dtype", "classes"),
    [
        ([0, 1] * 20, "int64", [0, 1]),
        ([0, 1, 2] * 20, "int64", [0, 1, 2]),
        ([1.0, 2.0] * 20, "float64", [1.0, 2.0]),
        ([True, False] * 20, "bool", [False, True]),
        (["a", "b"] * 20, "object", ["a", "b"]),
        ([0.5, 1.5] * 20, "object", ["0.5", "1.5"]),
    ],
)
def test_class_labels_reach_scikit_learn_typed_as_binary_or_multiclass(values, dtype, classes):
    from sklearn.utils.multiclass import type_of_target

    labels, _ = _labels_after_cleaning(values, task="classification")
    assert str(labels.dtype) == dtype
    assert type_of_target(labels.to_numpy()) == ("binary" if len(classes) == 2 else "multiclass")
    assert sorted(labels.unique().tolist()) == classes
    assert [type(v) for v in labels.tolist()[:1]] == [type(classes[0])]


def test_whole_number_labels_with_blank_targets_stay_integers():
    labels, quality = _labels_after_cleaning([0, 1, None, 2] * 10)
    assert str(labels.dtype) == "int64"
    assert sorted(labels.unique().tolist()) == [0, 1, 2]
    assert quality["task_reason"] == "3 distinct whole numbers"


def test_label_spellings_differing_in_case_or_spaces_merge_to_the_most_frequent():
    labels, quality = _labels_after_cleaning(["yes", "yes", "Yes ", "YES", "no", " no", "No"] * 6)
    assert sorted(labels.unique().tolist()) == ["no", "yes"]
    merged = _actions_of(quality)["merged_label_spellings"][0]
    assert merged["merged"] == {"Yes": "yes", "YES": "yes", "No": "no"}
    assert "'Yes' → 'yes'" in merged["message"]


def _actions_of(quality: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for action in quality["actions"]:
        found.setdefault(action["action"], []).append(action)
    return found


def test_the_chosen_task_and_why_is_recorded():
    _, quality = _labels_after_cleaning(list(range(30)) * 2)
    chose = _actions_of(quality)["chose_task"][0]
    assert chose["message"] == (
        "task: regression (target 'target' has 30 distinct whole numbers, more than 20); "
        "set task to classification or regression to overrule"
    )


def test_a_target_unique_per_row_is_refused_as_an_identifier():
    frame = pd.DataFrame({"x": range(40), "target": [f"name {i}" for i in range(40)]})
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf())
    assert str(caught.value) == (
        "target 'target' has 40 distinct values in 40 rows, most of them seen once: it looks like an identifier or "
        "free text, not classes to predict; choose another target column (or set task to regression if it is a "
        "quantity)"
    )


def test_regression_target_must_be_numeric():
    frame = pd.DataFrame({"x": range(30), "target": ["low", "high", "mid"] * 10})
    with pytest.raises(BadInput) as caught:
        clean_frame(frame, _conf(task="regression"))
    assert str(caught.value) == "target 'target' must be numeric for regression, e.g. low, high, mid"


def test_thousands_separators_parse_but_decimal_commas_are_junk():
    from dropml.training.clean import coerce_numeric

    numbers, junk = coerce_numeric(pd.Series(["1,234", "12", "1,234,567.5"] * 10 + ["3"] * 10), "amount")
    assert numbers.tolist()[:3] == [1234.0, 12.0, 1234567.5]
    assert junk == []
    with pytest.raises(BadInput) as caught:
        coerce_numeric(pd.Series(["1,5", "3", "4"] * 10), "weight")
    assert caught.value.field == "weight"


def test_a_name_per_row_whose_first_word_repeats_is_kept_for_that_word():
    rows = 200
    makers = ["chevrolet", "Ford", "toyota", "volkswagen"]
    frame = pd.DataFrame(
        {
            "name": [f"{makers[i % 4]} model {i}" for i in range(rows)],  # unique per row, 4 first words
            "word": [f"w{i}" for i in range(rows)],  # one word each: dropped as before
            "x": np.linspace(0, 1, rows),
            "target": ["a", "b"] * (rows // 2),
        }
    )
    result = clean_frame(frame, _conf())
    actions = _actions(result)
    assert result.kinds == {"name": "categorical", "x": "numeric"}
    assert result.word_columns == ["name"]
    assert actions["encoded_first_word"][0]["message"] == (
        "column 'name': 200 distinct values in 200 rows, encoded by their first word "
        "(4 distinct, e.g. chevrolet, ford, toyota, volkswagen)"
    )
    assert [(a["column"], a["reason"]) for a in actions["dropped_column"]] == [("word", "id_like")]


def test_the_schema_of_a_word_column_accepts_any_text():
    from dropml.training.schema import build_input_schema

    frame = pd.DataFrame({"name": ["ford pinto", "amc hornet"], "plan": ["a", "b"]})
    kinds = {"name": "categorical", "plan": "categorical"}
    schema = build_input_schema(frame, kinds, None, None, any_text=["name"])
    assert [(c.name, c.categories) for c in schema.columns] == [("name", None), ("plan", ["a", "b"])]
