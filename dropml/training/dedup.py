"""Deduplication by declared keys, and only by them: the one rule for files, drops and datasets alike.

Rows that are equal are observations (a survey's repeated answers), never
errors. Rows are versions of one record only when they agree on the project's
record key (:meth:`~dropml.config.TrainingSettings.record_key`: a time-ordered
project's (group, time), or a ``row_key`` with ``repeated_row_keys:
keep_latest``). The latest version wins: the last in ``order_column`` when given
(a dataset row's drop time), else the last in the frame. A row with no value in
a key column is no version of anything and is kept.

The in-process cleaning step (:mod:`~dropml.training.clean`), a drop appended to
a dataset and a dataset read (:mod:`~dropml.training.dataset`), and the Dask
path's pass over its partitions (:mod:`~dropml.training.distributed`) all
apply :func:`replaced_rows`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def replaced_rows(frame: pd.DataFrame, key_columns: list[str], order_columns: list[str] | None = None) -> np.ndarray:
    """A boolean per row of ``frame``: True where a later row has the same values in ``key_columns``.

    "Later" is the order of ``order_columns`` (a stable sort, so ties keep the
    frame's order), or the frame's own order. Rows missing a key value are never replaced.
    """
    import numpy as np

    if not key_columns or frame.empty:
        return np.zeros(len(frame), dtype=bool)
    keyed = frame[key_columns].notna().all(axis=1).to_numpy()
    if order_columns:
        order = frame[order_columns].reset_index(drop=True).sort_values(order_columns, kind="stable").index.to_numpy()
        later = frame.iloc[order][key_columns].duplicated(keep="last").to_numpy()
        replaced = np.empty(len(frame), dtype=bool)
        replaced[order] = later
    else:
        replaced = frame[key_columns].duplicated(keep="last").to_numpy()
    return replaced & keyed


def latest_by_keys(
    frame: pd.DataFrame, key_columns: list[str], order_columns: list[str] | None = None
) -> tuple[pd.DataFrame, int]:
    """``frame`` without the rows :func:`replaced_rows` marks (its order kept); returns it and how many went."""
    replaced = replaced_rows(frame, key_columns, order_columns)
    count = int(replaced.sum())
    return (frame[~replaced] if count else frame), count
