"""Which scored rows lie outside the range of values the models were trained on: where their answers extrapolate.

A model is measured on rows like the ones it was trained on. A row whose
number lies past the largest (or below the smallest) value training saw gets
an answer no holdout score stands behind: a linear model carries its slope on,
a tree ensemble repeats its edge value, and the two can differ by a factor.
(Statsmodels' Engel data shows it: one household with 1.8 times the largest
income in training took a straight-line model's holdout RMSE from about 135 to
198, which is why dropml's linear regression is bounded,
:mod:`dropml.training.bounded`.) So every answer says which of
its rows, and which columns, lie outside the training range recorded in the
version's input schema (``ColumnSchema.minimum``/``maximum``, numeric columns
only). It is a flag for the caller and the audit, not a refusal: the value is
valid, only less certain.

API: :class:`TrainingRanges` (``of(schema)``, ``outside(rows)``), :class:`OutsideRange`
(``rows``, ``counts()``, ``to_json()``, ``labels()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.scoring.rows import ColumnRows, NumberRows

if TYPE_CHECKING:
    from dropml.manifest import InputSchema
    from dropml.scoring.rows import CheckedRows

SEPARATOR = ";"  # between column names in a results file's ``outside_training_range`` cell


@dataclass(frozen=True)
class OutsideRange:
    """The rows × checked-columns mask of values outside the training range (NaN is never outside)."""

    columns: tuple[str, ...]
    mask: np.ndarray  # bool, one row per scored row, one column per entry of ``columns``

    @property
    def rows(self) -> np.ndarray:
        """0-based positions of the rows with at least one value outside the training range."""
        return np.flatnonzero(self.mask.any(axis=1)) if self.mask.size else np.empty(0, dtype=np.intp)

    def counts(self) -> dict[str, int]:
        """How many rows lie outside the training range, per column (columns with none left out)."""
        per_column = self.mask.sum(axis=0) if self.mask.size else np.zeros(len(self.columns), dtype=int)
        return {name: int(n) for name, n in zip(self.columns, per_column.tolist(), strict=True) if n}

    def to_json(self) -> dict[str, Any]:
        """``{"rows": [1-based rows], "columns": {name: rows outside}}``; both empty when every value was in range.

        Rows count from 1, as the rows of an answer's ``problems`` do.
        """
        return {"rows": (self.rows + 1).tolist(), "columns": self.counts()}

    def labels(self) -> np.ndarray:
        """Per row, the names of its columns outside the training range joined by ``;`` ('' when none): a CSV column."""
        out = np.full(self.mask.shape[0], "", dtype=object)
        for position in self.rows.tolist():
            out[position] = SEPARATOR.join(np.asarray(self.columns)[self.mask[position]].tolist())
        return out


@dataclass(frozen=True)
class TrainingRanges:
    """The numeric columns of a version's input schema with both bounds recorded, as arrays to compare rows with."""

    columns: tuple[str, ...]
    minimum: np.ndarray
    maximum: np.ndarray

    @classmethod
    def of(cls, schema: InputSchema) -> TrainingRanges:
        """The ranges the schema records (a column without both bounds, e.g. one never filled, is not checked)."""
        bounded = [c for c in schema.columns if c.kind == "numeric" and c.minimum is not None and c.maximum is not None]
        return cls(
            columns=tuple(c.name for c in bounded),
            minimum=np.asarray([c.minimum for c in bounded], dtype="float64"),
            maximum=np.asarray([c.maximum for c in bounded], dtype="float64"),
        )

    def outside(self, rows: CheckedRows) -> OutsideRange:
        """Which values of the checked ``rows`` (a frame, :class:`NumberRows` or :class:`ColumnRows`) lie outside."""
        if isinstance(rows, NumberRows):
            if tuple(rows.columns) == self.columns:
                values = rows.matrix
            else:
                position = {name: i for i, name in enumerate(rows.columns)}
                values = rows.matrix[:, [position[name] for name in self.columns]]
            with np.errstate(invalid="ignore"):
                return OutsideRange(self.columns, (values < self.minimum) | (values > self.maximum))
        # column by column into one mask (no float copy of the whole block: a 100k-row batch is scored too)
        mask = np.empty((len(rows), len(self.columns)), dtype=bool, order="F")
        with np.errstate(invalid="ignore"):
            for j, name in enumerate(self.columns):
                if isinstance(rows, ColumnRows):
                    column = rows.column(name)
                else:
                    column = rows[name].to_numpy(dtype="float64", na_value=np.nan)
                np.logical_or(column < self.minimum[j], column > self.maximum[j], out=mask[:, j])
        return OutsideRange(self.columns, mask)
