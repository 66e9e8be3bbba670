"""Checked rows as the models get them: a pandas DataFrame, or an all-number matrix that becomes one only if asked.

The usual request to a serving endpoint is a JSON record or a few, every field
a number. :func:`dropml.scoring.validate.rows_from_records` checks those
straight into one float64 matrix (:class:`NumberRows`). A compiled model
(onnxruntime) reads that matrix as it is, and the audit record writes its rows,
so such a request is answered without a DataFrame, and a fresh serving process
answers its first request without importing pandas (a third of its cold start).
Whatever needs pandas (a scikit-learn pipeline, Dask, a CSV answer, a page)
calls :func:`as_frame`, which builds the same frame
:func:`~dropml.scoring.validate.frame_from_records` always built.

API: :class:`NumberRows` (``len``, ``columns``, ``to_numpy(dtype)``, ``records()``, ``frame``),
:data:`CheckedRows`, :func:`as_frame(rows)`, :func:`column_index(names)`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeAlias

from dropml.audit import number_records

if TYPE_CHECKING:
    import numpy as np
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

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready objects (a gap as None), for the audit record."""
        return number_records(self.matrix, self.columns)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as the DataFrame the pipelines take (built once, on first use)."""
        import pandas as pd

        return pd.DataFrame(self.matrix, columns=column_index(tuple(self.columns)), copy=False)


@functools.lru_cache(maxsize=64)
def column_index(names: tuple[str, ...]) -> pd.Index:
    """One immutable column index per schema, built once: a new one per request costs more than a small predict.

    Plain Python strings (object dtype), which scikit-learn's feature-name
    checks read without converting, unlike pandas' Arrow-backed strings.
    """
    import pandas as pd

    return pd.Index(list(names), dtype=object)


CheckedRows: TypeAlias = "pd.DataFrame | NumberRows"


def as_frame(rows: CheckedRows) -> pd.DataFrame:
    """``rows`` as a pandas DataFrame: itself when it is one, else the :class:`NumberRows`' frame."""
    return rows.frame if isinstance(rows, NumberRows) else rows
