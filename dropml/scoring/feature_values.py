"""How a raw value becomes what the models read: one set of rules for training's steps and serving's compiled form.

Training's ``preprocess`` step (:mod:`dropml.training.features`) and the
compiled models' feature program (:mod:`dropml.scoring.feature_program`) both
call these, so a value is read the same way when a model is fitted, when its
pipeline predicts and when its compiled form predicts without scikit-learn:

- :func:`boolean_number`: true/yes/1 → 1.0, false/no/0 → 0.0, anything else NaN;
- :func:`category_text`: a category as text (``1.0`` read from a CSV is category ``"1"``), None when missing;
- :func:`first_word`: a text's first word, lower case (a car's name → its maker);
- :func:`to_datetimes`: a pandas column as naive UTC datetimes (ISO strings parsed);
- :func:`date_parts`: datetime64 values → year, month, day, day of week, days since 1970;
- :func:`lag_features`: per-group lags and returns from earlier rows of the batch only.

numpy only, except :func:`to_datetimes`, which takes and gives a pandas column.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.manifest import FALSE_TEXTS, TRUE_TEXTS

if TYPE_CHECKING:
    import pandas as pd

# "days" is the time itself (days since 1970-01-01, fractional): one split places a row in time, where the
# calendar parts need several (vega-stocks, monthly prices: holdout RMSE 31.3 -> 23.0 in bench/quality.py).
DATE_PARTS = ("year", "month", "day", "dayofweek", "days")
_ONE_DAY = np.timedelta64(1, "D")
_EPOCH = np.datetime64(0, "ns")


def is_missing(value: Any) -> bool:
    """None, or a float NaN (pandas' missing marker in an object column)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def boolean_number(value: Any) -> float:
    """1.0 for a true value (True, "yes", "1", ...), 0.0 for a false one, NaN for anything else or a gap."""
    if is_missing(value):
        return math.nan
    text = str(value).strip().lower()
    if text in TRUE_TEXTS:
        return 1.0
    if text in FALSE_TEXTS:
        return 0.0
    return math.nan


def category_text(value: Any) -> str | None:
    """A category value as the text the encoders were fitted on (a whole float as an int: 1.0 → "1"); None: a gap."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def first_word(text: str | None) -> str | None:
    """The first whitespace-separated word of ``text``, case-folded; None for a gap or a blank."""
    if text is None:
        return None
    words = str(text).strip().split(None, 1)
    return words[0].casefold() if words and words[0] else None


def to_datetimes(values: pd.Series) -> pd.Series:
    """Datetimes from datetime values or ISO 8601 strings (anything else becomes NaT), naive UTC."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        tz = getattr(values.dtype, "tz", None)
        return values.dt.tz_convert(None) if tz is not None else values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(values.astype(object), errors="coerce", format="ISO8601", utc=True)
        if parsed.isna().sum() > values.isna().sum():
            parsed = pd.to_datetime(values.astype(object), errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_localize(None)


def date_parts(stamps: np.ndarray, parts: tuple[str, ...] | list[str] = DATE_PARTS) -> np.ndarray:
    """One float column per part of datetime64 ``stamps`` (NaT gives NaN in every part).

    ``days`` is the time itself (days since 1970-01-01, fractional); the others
    are calendar numbers, day of week 0 for Monday, as pandas' ``.dt`` gives them.
    """
    stamps = np.asarray(stamps, dtype="datetime64[ns]")
    missing = np.isnat(stamps)
    day = stamps.astype("datetime64[D]")  # numpy floors to the coarser unit: 1969-12-31T23:00 is 1969-12-31
    month = stamps.astype("datetime64[M]")
    columns = []
    for part in parts:
        if part == "days":
            columns.append((stamps - _EPOCH) / _ONE_DAY)  # NaT gives NaN
            continue
        if part == "year":
            value = stamps.astype("datetime64[Y]").astype("int64") + 1970
        elif part == "month":
            value = month.astype("int64") % 12 + 1
        elif part == "day":
            value = (day - month.astype("datetime64[D]")).astype("int64") + 1
        elif part == "dayofweek":
            value = (day.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday (3)
        else:
            raise ValueError(f"unknown date part {part!r}")
        columns.append(np.where(missing, np.nan, value.astype("float64")))
    return np.column_stack(columns) if columns else np.empty((len(stamps), 0))


def sort_codes(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values present (0: the smallest), -1 for a gap: a sort key, gaps first."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        missing = np.isnat(values)
    elif values.dtype.kind == "f":
        missing = np.isnan(values)
    else:
        missing = np.array([is_missing(v) for v in values.tolist()], dtype=bool)
    codes = np.full(len(values), -1, dtype="int64")
    present = ~missing
    if present.any():
        _, codes[present] = np.unique(values[present], return_inverse=True)
    return codes


def lag_feature_names(lag_columns: list[str], return_columns: list[str], lags: list[int]) -> list[str]:
    """The names of the columns :func:`lag_features` adds, in order."""
    names = [f"{col}_lag{lag}" for col in lag_columns for lag in lags]
    names += [f"{col}_ret{lag}" for col in lag_columns for lag in lags]
    names += [f"{col}_ret1" for col in return_columns if col not in lag_columns]
    return names


def lag_features(
    times: np.ndarray,
    groups: np.ndarray | None,
    values: dict[str, np.ndarray],
    lag_columns: list[str],
    return_columns: list[str],
    lags: list[int],
) -> dict[str, np.ndarray]:
    """Per-group lag and return columns computed from EARLIER rows of the same batch only, in the rows' own order.

    Rows are ordered by group, then time (gaps first, ties in their given
    order); row t sees t-1, t-2, ... of its group, so no later value can reach
    it, and a group's first rows get NaN. ``values`` holds the float columns
    named in ``lag_columns`` and ``return_columns``. Returns ``<col>_lag<k>``
    and ``<col>_ret<k>`` for each lag column and lag, then ``<col>_ret1`` for
    each other return column; a non-finite return is NaN.
    """
    rows = len(times)
    if rows == 1:  # one record (the usual request): no earlier row, so every lag and return is missing
        return {name: np.full(1, np.nan) for name in lag_feature_names(lag_columns, return_columns, lags)}
    keys = [sort_codes(times)]
    if groups is not None:
        keys.append(sort_codes(groups))  # np.lexsort sorts by the last key first
    order = np.lexsort(keys) if rows else np.arange(0)
    group_codes = keys[-1][order] if groups is not None else np.zeros(rows, dtype="int64")

    def shifted(column: np.ndarray, lag: int) -> np.ndarray:
        out = np.full(rows, np.nan)
        if lag < rows:
            same_group = group_codes[lag:] == group_codes[:-lag]
            out[lag:] = np.where(same_group, column[:-lag], np.nan)
        return out

    ordered = {name: np.asarray(values[name], dtype="float64")[order] for name in {*lag_columns, *return_columns}}
    added: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in lag_columns:
            for lag in lags:
                added[f"{name}_lag{lag}"] = shifted(ordered[name], lag)
        for name in lag_columns:
            for lag in lags:
                added[f"{name}_ret{lag}"] = ordered[name] / added[f"{name}_lag{lag}"] - 1.0
        for name in return_columns:
            if name not in lag_columns:
                added[f"{name}_ret1"] = ordered[name] / shifted(ordered[name], 1) - 1.0
    restore = np.empty_like(order)
    restore[order] = np.arange(rows)
    return {name: np.where(np.isfinite(column), column, np.nan)[restore] for name, column in added.items()}
