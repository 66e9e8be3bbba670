"""Checked rows as the models get them: a pandas DataFrame, or numpy arrays that become one only if asked.

The usual request to a serving endpoint is a JSON record or a few.
:func:`dropml.scoring.validate.rows_from_records` checks those straight into
numpy: one float64 matrix when every field is a number (:class:`NumberRows`),
else one array per column (:class:`ColumnRows`: numbers, booleans as 1/0,
category text, datetime64). A compiled model (its feature program in numpy,
then onnxruntime) reads them as they are, and the audit record writes their
rows, so such a request is answered without a DataFrame, and a fresh serving
process answers its first request without importing pandas (a third of its
cold start). Whatever needs pandas (a scikit-learn pipeline, Dask, a CSV
answer, a page) calls :func:`as_frame`, which builds the same frame
:func:`~dropml.scoring.validate.frame_from_records` always built.

API: :class:`NumberRows` (``len``, ``columns``, ``to_numpy(dtype)``, ``column(name)``, ``take(positions)``,
``records()``, ``frame``), :class:`ColumnRows` (``len``, ``columns``, ``kinds``, ``column(name)``,
``take(positions)``, ``records()``, ``frame``),
:data:`CheckedRows`, :func:`as_frame(rows)`, :func:`column_index(names)`.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from dropml.audit import number_records

if TYPE_CHECKING:
    import pandas as pd


class NumberRows:
    """Rows of an all-number schema, checked, as one float64 matrix with the schema's column names in order."""

    def __init__(self, matrix: np.ndarray, columns: list[str]) -> None:
        if matrix.ndim != 2 or matrix.shape[1] != len(columns):
            raise ValueError(f"a {matrix.shape} matrix does not fit {len(columns)} column names")
        self.matrix = matrix
        self.columns = columns

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def __repr__(self) -> str:
        return f"NumberRows({len(self)} rows × {len(self.columns)} columns)"

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        """The matrix, in ``dtype`` when given (as ``DataFrame.to_numpy`` does: no copy when it already is)."""
        return self.matrix if dtype is None else self.matrix.astype(dtype, copy=False)

    def column(self, name: str) -> np.ndarray:
        """One column's values (float64).

        Raises:
            ValueError: no such column.
        """
        return self.matrix[:, self.columns.index(name)]

    def take(self, positions: np.ndarray) -> NumberRows:
        """The rows at ``positions`` (0-based), copied: as ``DataFrame.take`` gives them."""
        return NumberRows(self.matrix[positions], self.columns)

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready objects (a gap as None), for the audit record."""
        return number_records(self.matrix, self.columns)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as the DataFrame the pipelines take (built once, on first use)."""
        import pandas as pd

        return pd.DataFrame(self.matrix, columns=column_index(tuple(self.columns)), copy=False)


ColumnKind: TypeAlias = Literal["number", "boolean", "text", "datetime"]


class ColumnRows:
    """Rows of any schema, checked, as one numpy array per column with the schema's column names in order.

    Each column is held as its kind says: ``number`` float64 (NaN a gap),
    ``boolean`` float64 1.0/0.0 (NaN a gap), ``text`` an object array of
    ``str`` (None a gap), ``datetime`` datetime64[ns], naive UTC (NaT a gap).
    """

    def __init__(self, arrays: dict[str, np.ndarray], kinds: dict[str, ColumnKind]) -> None:
        lengths = {len(values) for values in arrays.values()}
        if len(lengths) > 1 or set(arrays) != set(kinds):
            raise ValueError(f"columns of {sorted(lengths)} rows, or kinds for other columns: {sorted(kinds)}")
        self.arrays = arrays
        self.kinds = kinds
        self.columns = list(arrays)

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def __repr__(self) -> str:
        return f"ColumnRows({len(self)} rows × {len(self.columns)} columns)"

    def column(self, name: str) -> np.ndarray:
        """One column's values, as its kind holds them.

        Raises:
            KeyError: no such column.
        """
        return self.arrays[name]

    def take(self, positions: np.ndarray) -> ColumnRows:
        """The rows at ``positions`` (0-based), copied: as ``DataFrame.take`` gives them."""
        return ColumnRows({name: values[positions] for name, values in self.arrays.items()}, self.kinds)

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready objects (a gap as None, a datetime as ISO 8601 text), for the audit record."""
        shown: dict[str, list[Any]] = {}
        for name, values in self.arrays.items():
            kind = self.kinds[name]
            if kind == "datetime":
                text = np.datetime_as_string(values, unit="ms")
                shown[name] = [None if np.isnat(v) else t for v, t in zip(values, text.tolist(), strict=True)]
            elif kind == "boolean":
                shown[name] = [None if math.isnan(v) else v == 1.0 for v in values.tolist()]
            elif kind == "number":
                shown[name] = [None if math.isnan(v) else v for v in values.tolist()]
            else:
                shown[name] = values.tolist()
        return [dict(zip(self.columns, row, strict=True)) for row in zip(*shown.values(), strict=True)]

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as the DataFrame the pipelines take (built once, on first use), typed as validation types them."""
        import pandas as pd

        data: dict[str, Any] = {}
        for name, values in self.arrays.items():
            kind = self.kinds[name]
            if kind == "boolean":
                gaps, flags = np.isnan(values), values == 1.0
                data[name] = flags
                if gaps.any():  # True/False and NaN in one object column, as validation types a column with a gap
                    pairs = zip(gaps.tolist(), flags.tolist(), strict=True)
                    data[name] = np.array([np.nan if gap else flag for gap, flag in pairs], dtype=object)
            elif kind == "text":
                data[name] = pd.array([np.nan if v is None else v for v in values], dtype="str")
            elif kind == "datetime":
                data[name] = pd.Series(values)
            else:
                data[name] = values
        return pd.DataFrame(data, columns=column_index(tuple(self.columns)))


@functools.lru_cache(maxsize=64)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """One immutable column index per schema, built once: a new one per request costs more than a small predict.

    Plain Python strings (object dtype), which scikit-learn's feature-name
    checks read without converting, unlike pandas' Arrow-backed strings.
    """
    import pandas as pd

    return pd.Index(list(names), dtype=object)


CheckedRows: TypeAlias = "pd.DataFrame | NumberRows | ColumnRows"


def as_frame(rows: CheckedRows) -> pd.DataFrame:
    """``rows`` as a pandas DataFrame: itself when it is one, else the frame of its numpy arrays."""
    return rows.frame if isinstance(rows, NumberRows | ColumnRows) else rows
