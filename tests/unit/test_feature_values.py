"""The numpy value rules shared by training and the compiled form give what pandas gives for the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dropml.scoring.feature_values import boolean_number, category_text, date_parts, first_word, lag_features
from dropml.training.clean import first_words

RNG = np.random.default_rng(11)


def test_date_parts_are_pandas_calendar_before_1970_on_leap_days_and_at_gaps():
    stamps = pd.Series(
        pd.to_datetime(
            ["1969-12-31T23:00", "1900-02-28T05:00", "2024-02-29T23:59:59.999", "1700-03-01", None, "2261-12-31"],
            format="ISO8601",
        )
    )
    parts = date_parts(stamps.to_numpy(dtype="datetime64[ns]"))
    expected = np.column_stack(
        [
            *(getattr(stamps.dt, p).to_numpy(dtype=float, na_value=np.nan) for p in ("year", "month", "day")),
            stamps.dt.day_of_week.to_numpy(dtype=float, na_value=np.nan),
            (stamps.to_numpy(dtype="datetime64[ns]") - np.datetime64(0, "ns")) / np.timedelta64(1, "D"),
        ]
    )
    assert np.array_equal(parts, expected, equal_nan=True)


def test_first_word_is_cleanings_first_word_value_by_value():
    texts = ["Ford Pinto", " toyota  corolla ", None, "amc", "", "  ", "ÉCOLE x", "vw\trabbit", "Ａｂｃ d"]
    expected = first_words(pd.Series(texts, dtype=object)).tolist()
    assert [first_word(text) or np.nan for text in texts] == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize(
    ("value", "number", "text"),
    [
        (True, 1.0, "True"),
        ("yes", 1.0, "yes"),
        ("0", 0.0, "0"),
        (1.0, 1.0, "1"),
        (2.5, np.nan, "2.5"),
        (None, np.nan, None),
    ],
)
def test_booleans_and_category_text(value, number, text):
    assert boolean_number(value) == pytest.approx(number, nan_ok=True)
    assert category_text(value) == text


def _pandas_lags(frame: pd.DataFrame, group: str | None, lags: list[int]) -> dict[str, np.ndarray]:
    """The definition: sort by group and time (gaps first, ties in row order), shift within the group, restore."""
    keys = [group, "time"] if group else ["time"]
    ordered = frame.sort_values(keys, kind="mergesort", na_position="first")
    shifts = ordered.groupby(group, sort=False, dropna=False)["value"] if group else ordered["value"]
    out = {}
    for lag in lags:
        lagged = shifts.shift(lag)
        out[f"value_lag{lag}"] = lagged
        out[f"value_ret{lag}"] = (ordered["value"] / lagged - 1.0).replace([np.inf, -np.inf], np.nan)
    return {name: column.sort_index().to_numpy(dtype=float) for name, column in out.items()}


@pytest.mark.parametrize("group", ["group", None])
def test_lags_and_returns_are_pandas_group_shifts_with_gaps_and_ties(group):
    for rows in [1, 2, 5, 40, 200]:
        frame = pd.DataFrame(
            {
                "time": pd.to_datetime("2021-01-01") + pd.to_timedelta(RNG.integers(0, 12, rows), unit="D"),
                "group": pd.Series(RNG.choice(["a", "b", "c", None], rows), dtype=object),
                "value": np.where(RNG.random(rows) < 0.1, np.nan, RNG.normal(size=rows).round(1)),
            }
        )
        frame.loc[RNG.random(rows) < 0.1, "time"] = pd.NaT
        found = lag_features(
            frame["time"].to_numpy(dtype="datetime64[ns]"),
            frame["group"].to_numpy() if group else None,
            {"value": frame["value"].to_numpy()},
            ["value"],
            ["value"],
            [1, 2, 7],
        )
        expected = _pandas_lags(frame, group, [1, 2, 7])
        for name, column in expected.items():
            assert np.array_equal(found[name], column, equal_nan=True), (rows, name)
