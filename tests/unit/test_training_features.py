"""Step 4: the preprocess step takes RAW frames (text, ISO dates) and never lets the future leak into features."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from dropml.errors import BadInput
from dropml.training.features import (
    CoerceColumns,
    DatetimeParts,
    LagFeatures,
    build_preprocess,
    output_feature_names,
)

KINDS = {"age": "numeric", "plan": "categorical", "joined": "datetime", "active": "boolean"}


def _raw(rows: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [str(20 + i) for i in range(rows)],
            "plan": ["basic", "pro", None] * (rows // 3),
            "joined": [f"2024-0{1 + i % 9}-1{i % 9}" for i in range(rows)],
            "active": ["true", "false", "1", "no"] * (rows // 4),
            "extra": range(rows),
        }
    )


def test_coerce_converts_raw_columns_to_their_kinds_and_ignores_extras():
    out = CoerceColumns(KINDS).fit_transform(_raw())
    assert list(out.columns) == list(KINDS)
    assert out["age"].tolist()[:2] == [20.0, 21.0]
    assert out["active"].tolist()[:4] == [1.0, 0.0, 1.0, 0.0]
    assert out["plan"].tolist()[:2] == ["basic", "pro"]
    assert pd.isna(out["plan"][2])
    assert str(out["joined"].dtype).startswith("datetime64")


def test_coerce_names_missing_columns():
    with pytest.raises(BadInput) as caught:
        CoerceColumns(KINDS).transform(_raw().drop(columns=["plan", "age"]))
    assert str(caught.value) == "missing input column(s): age, plan"


def test_datetime_parts_from_iso_strings():
    parts = DatetimeParts().fit(pd.DataFrame({"d": ["2024-03-05"]}))
    out = parts.transform(pd.DataFrame({"d": ["2024-03-05T12:00", None]}))
    assert out.tolist()[0] == [2024.0, 3.0, 5.0, 1.0, 19787.5]  # the last: days since 1970-01-01
    assert np.isnan(out[1]).all()
    assert list(parts.get_feature_names_out()) == ["d_year", "d_month", "d_day", "d_dayofweek", "d_days"]


def test_datetime_parts_pickled_before_days_keep_giving_their_four_columns():
    parts = DatetimeParts().fit(pd.DataFrame({"d": ["2024-03-05"]}))
    del parts.parts_  # what a pipeline fitted by the previous release carries
    assert parts.transform(pd.DataFrame({"d": ["2024-03-05"]})).tolist() == [[2024.0, 3.0, 5.0, 1.0]]
    assert len(parts.get_feature_names_out()) == 4
    assert list(parts.get_feature_names_out()) == ["d_year", "d_month", "d_day", "d_dayofweek"]


def test_preprocess_outputs_named_features_and_pickles_with_a_model():
    frame = _raw(24)
    preprocess = build_preprocess(KINDS, max_categories=5)
    pipeline = Pipeline([("preprocess", preprocess), ("select", "passthrough"), ("model", LogisticRegression())])
    labels = np.array(["yes", "no"] * 12)
    pipeline.fit(frame, labels)
    assert output_feature_names(pipeline.named_steps["preprocess"]) == [
        "age",
        "active",
        "plan_basic",
        "plan_pro",
        "joined_year",
        "joined_month",
        "joined_day",
        "joined_dayofweek",
        "joined_days",
    ]
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    loaded = joblib.load(io.BytesIO(buffer.getvalue()))
    unseen = pd.DataFrame({"age": [33], "plan": ["enterprise"], "joined": ["2025-01-01"], "active": [True]})
    assert loaded.predict(unseen)[0] in {"yes", "no"}


def _prices() -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=10, freq="D")
    frame = pd.DataFrame(
        {
            "date": np.tile(days, 2),
            "symbol": ["A"] * 10 + ["B"] * 10,
            "open": np.r_[np.arange(1.0, 11.0), np.arange(101.0, 111.0)],
        }
    )
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # shuffled: order must not matter


def test_lags_come_from_the_same_group_and_row_order_is_restored():
    frame = _prices()
    out = LagFeatures("date", "symbol", ["open"], ["open"], [1, 2]).transform(frame)
    assert out[["date", "symbol", "open"]].equals(frame)
    row = out[(out["symbol"] == "B") & (out["date"] == "2024-01-05")].iloc[0]
    assert (row["open_lag1"], row["open_lag2"]) == (104.0, 103.0)
    assert row["open_ret1"] == pytest.approx(105.0 / 104.0 - 1)
    first = out[(out["symbol"] == "A") & (out["date"] == "2024-01-01")].iloc[0]
    assert np.isnan(first["open_lag1"])


def test_no_future_value_leaks_into_the_features():
    frame = _prices()
    cutoff = pd.Timestamp("2024-01-06")
    lagger = LagFeatures("date", "symbol", ["open"], ["open"], [1, 2, 3])
    before = lagger.transform(frame)
    changed = frame.copy()
    future = changed["date"] > cutoff
    changed.loc[future, "open"] = changed.loc[future, "open"] * 1000 + 7  # rewrite the future
    after = lagger.transform(changed)
    past = frame["date"] <= cutoff
    generated = [c for c in before.columns if c not in frame.columns]
    pd.testing.assert_frame_equal(before.loc[past, generated], after.loc[past, generated])
    assert not before.loc[future, generated].equals(after.loc[future, generated])  # the test can see changes


def test_a_word_column_is_one_hot_encoded_by_its_first_word_and_takes_new_names():
    from dropml.training.features import FirstWord

    words = FirstWord().fit_transform(pd.DataFrame({"name": ["Ford Pinto", " toyota  corolla ", None, "amc"]}))
    assert words["name"].tolist()[:2] == ["ford", "toyota"]
    assert pd.isna(words["name"][2])
    assert words["name"][3] == "amc"
    kinds = {"name": "categorical", "x": "numeric"}
    frame = pd.DataFrame({"name": ["ford pinto", "toyota corolla", "ford torino", "toyota camry"] * 3, "x": range(12)})
    preprocess = build_preprocess(kinds, max_categories=5, word_columns=["name"]).fit(frame)
    assert output_feature_names(preprocess) == ["x", "name_ford", "name_toyota"]
    out = preprocess.transform(pd.DataFrame({"name": ["Ford Mustang GT"], "x": [1.0]}))  # a name never seen
    assert out[0, 1:].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("missing_share", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("keep_empty_features", [False, True])
def test_the_median_imputer_gives_scikit_learns_medians(missing_share, keep_empty_features):
    import warnings

    from sklearn.impute import SimpleImputer

    from dropml.training.features import MedianImputer

    rng = np.random.default_rng(3)
    values = rng.normal(size=(1001, 6)).round(2)  # rounded: ties, and an odd and an even count once NaN are out
    values[rng.random(values.shape) < missing_share] = np.nan
    values[:, 5] = np.nan if missing_share > 0.5 else values[:, 5]  # an all-missing column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Skipping features without any observed values"
        ours = MedianImputer(strategy="median", keep_empty_features=keep_empty_features).fit(values)
        theirs = SimpleImputer(strategy="median", keep_empty_features=keep_empty_features).fit(values)
        assert np.array_equal(ours.statistics_, theirs.statistics_, equal_nan=True)
        assert np.array_equal(ours.transform(values), theirs.transform(values), equal_nan=True)
