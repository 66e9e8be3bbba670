"""One input column of checked rows as monitoring reads it: numbers as float64, categories and booleans as text.

Checked rows are what scoring validated (:mod:`dropml.scoring.validate`): a
DataFrame, or :class:`~dropml.scoring.rows.NumberRows` / :class:`~dropml.scoring.rows.ColumnRows` for JSON
requests. The training profile and every batch read their columns here, so a
category is the same text in both (a category that was a number in training,
``3``, is ``"3"`` whether it arrives as 3, 3.0 or "3").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.manifest import TRUE_TEXTS
from dropml.scoring.rows import ColumnRows, NumberRows

if TYPE_CHECKING:
    from dropml.manifest import ColumnSchema
    from dropml.scoring.rows import CheckedRows

TESTED_KINDS = ("numeric", "categorical", "boolean")  # a datetime column drifts by nature (time moves on)


def is_numeric(column: ColumnSchema) -> bool:
    """Whether the column is compared as numbers (a numeric column; a category that was a number is a category)."""
    return column.kind == "numeric"


def raw_values(rows: CheckedRows, name: str) -> np.ndarray:
    """The column's values as a numpy array (float64 for all-number rows)."""
    if isinstance(rows, NumberRows | ColumnRows):
        return rows.column(name)
    series = rows[name]
    return series.to_numpy() if series.dtype.kind in "fiubM" else series.to_numpy(dtype=object)


def numbers(rows: CheckedRows, column: ColumnSchema) -> np.ndarray:
    """A numeric column as float64, NaN where missing."""
    values = raw_values(rows, column.name)
    if values.dtype.kind == "f":
        return values
    import pandas as pd

    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _label(kind: str, value: Any) -> str:
    """A category's text: booleans true/false, a whole number without ``.0`` (3.0 and "3" are one category)."""
    if kind == "boolean" or isinstance(value, bool | np.bool_):
        return "true" if (value.strip().lower() in TRUE_TEXTS if isinstance(value, str) else bool(value)) else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(
    rows: CheckedRows, column: ColumnSchema, weights: np.ndarray | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """A categorical or boolean column's (weighted) count of each value as text, and which rows have none.

    Values are factorised first and only the distinct ones turned into text, so a million rows cost what
    pandas' factorize costs.
    """
    import pandas as pd

    values = raw_values(rows, column.name)
    if values.dtype.kind == "b":
        codes, uniques, missing = values.astype(np.intp), [False, True], np.zeros(len(values), dtype=bool)
    else:
        codes, found = pd.factorize(values, use_na_sentinel=True)
        uniques, missing = list(found), codes < 0
    present = codes[~missing]
    tally = np.bincount(present, weights=None if weights is None else weights[~missing], minlength=len(uniques))
    counts: dict[str, float] = {}
    for value, number in zip(uniques, tally.tolist(), strict=True):
        if number:
            label = _label(column.kind, value)
            counts[label] = counts.get(label, 0.0) + float(number)
    return counts, missing


def missing_mask(rows: CheckedRows, column: ColumnSchema) -> np.ndarray:
    """Which rows have no value in the column (any kind)."""
    import pandas as pd

    values = raw_values(rows, column.name)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    return np.asarray(pd.isna(values), dtype=bool)
