"""What a batch of scored rows shows, in a form that adds up across the blocks of a file and the windows of a day.

:func:`observe` summarises checked rows: per column the (weighted) count of
values present and missing, of values past the training range (numbers), of
each value (categories, booleans), and the numbers themselves, all of them or
a uniform sample (``sample_share``). :func:`merge` adds observations up: a
file scored on Dask is observed block by block on the workers, a day of API
traffic window by window. Weights make a sample stand for what it was drawn
from: a row kept from a window of 5,000 rows in a 500-row reservoir weighs 10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dropml.monitoring.columns import category_counts, is_numeric, missing_mask, numbers

if TYPE_CHECKING:
    from dropml.manifest import InputSchema
    from dropml.scoring.rows import CheckedRows


@dataclass
class ColumnObservation:
    """One column of a batch: counts over every row, numbers over the sample."""

    kind: str
    present: float = 0.0
    present_squares: float = 0.0  # Σ weight² of the values present: their effective number is present² / this
    missing: float = 0.0
    outside: float = 0.0  # numbers past the training range (schema minimum/maximum)
    counts: dict[str, float] = field(default_factory=dict)  # categories and booleans
    values: np.ndarray = field(default_factory=lambda: np.empty(0))  # numbers in the sample
    weights: np.ndarray = field(default_factory=lambda: np.empty(0))  # what each sampled number stands for


@dataclass
class BatchObservation:
    """A batch's columns, its (weighted) rows, and the rows with any value past the training range."""

    rows: float = 0.0
    rows_outside: float = 0.0
    sampled_rows: int = 0  # rows whose numbers are in ``values``
    columns: dict[str, ColumnObservation] = field(default_factory=dict)


def _sample_mask(count: int, share: float, rng: np.random.Generator) -> np.ndarray:
    if share >= 1.0:
        return np.ones(count, dtype=bool)
    return rng.random(count) < share


def observe(
    schema: InputSchema,
    rows: CheckedRows,
    *,
    sample_share: float = 1.0,
    row_weights: np.ndarray | None = None,
    seed: int | None = None,
) -> BatchObservation:
    """Summarise checked rows of ``schema``; numbers kept for a uniform ``sample_share`` of the rows.

    ``row_weights`` (one per row) when the rows are themselves a sample. Counts
    cover every row; the numbers kept weigh ``weight / sample_share`` each.
    """
    count = len(rows)
    weights = np.ones(count) if row_weights is None else np.asarray(row_weights, dtype=float)
    share = min(max(sample_share, 1e-12), 1.0)
    keep = _sample_mask(count, share, np.random.default_rng(seed))
    observed = BatchObservation(rows=float(weights.sum()), sampled_rows=int(keep.sum()))
    any_outside = np.zeros(count, dtype=bool)
    for column in schema.columns:
        found = ColumnObservation(kind=column.kind)
        if is_numeric(column):
            values = numbers(rows, column)
            gaps = np.isnan(values)
            with np.errstate(invalid="ignore"):
                outside = np.zeros(count, dtype=bool)
                if column.minimum is not None:
                    outside |= values < column.minimum
                if column.maximum is not None:
                    outside |= values > column.maximum
            any_outside |= outside
            found.outside = float(weights[outside].sum())
            sampled = keep & ~gaps
            found.values = values[sampled]
            found.weights = weights[sampled] / share
        elif column.kind in ("categorical", "boolean"):
            found.counts, gaps = category_counts(rows, column, None if row_weights is None else weights)
        else:
            gaps = missing_mask(rows, column)
        found.missing = float(weights[gaps].sum())
        found.present = float(weights[~gaps].sum())
        found.present_squares = float(np.square(weights[~gaps]).sum())
        observed.columns[column.name] = found
    observed.rows_outside = float(weights[any_outside].sum())
    return observed


def merge(observations: list[BatchObservation]) -> BatchObservation:
    """One observation of the batches together (blocks of a file, windows of a day)."""
    merged = BatchObservation()
    for part in observations:
        merged.rows += part.rows
        merged.rows_outside += part.rows_outside
        merged.sampled_rows += part.sampled_rows
        for name, column in part.columns.items():
            into = merged.columns.setdefault(name, ColumnObservation(kind=column.kind))
            into.present += column.present
            into.present_squares += column.present_squares
            into.missing += column.missing
            into.outside += column.outside
            for value, number in column.counts.items():
                into.counts[value] = into.counts.get(value, 0.0) + number
            if len(column.values):
                into.values = np.concatenate([into.values, column.values])
                into.weights = np.concatenate([into.weights, column.weights])
    return merged
