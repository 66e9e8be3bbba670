"""The input schema: the raw columns (and their kinds, categories and ranges) serving must send."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from dropml.manifest import ColumnSchema, InputSchema

if TYPE_CHECKING:
    from dropml.manifest import ColumnKind

MAX_SCHEMA_CATEGORIES = 1000  # beyond this a column accepts any text (unknown values are 'infrequent')
DTYPES: dict[str, str] = {"categorical": "object", "boolean": "bool", "datetime": "datetime64[ns]"}


def column_schema(name: str, series: pd.Series, kind: ColumnKind, any_text: bool = False) -> ColumnSchema:
    """Describe one cleaned input column: dtype, kind, allowed categories or numeric range.

    ``any_text``: a categorical column that accepts any text (one encoded by its first word: a new car name
    is no unseen category).
    """
    categories = minimum = maximum = None
    if kind == "categorical":
        seen = sorted({str(v) for v in series.dropna().unique()})
        categories = seen if len(seen) <= MAX_SCHEMA_CATEGORIES and not any_text else None
        dtype = DTYPES[kind]
    elif kind == "numeric":
        present = series.dropna()
        integral = pd.api.types.is_integer_dtype(series.dtype)
        dtype = "int64" if integral else "float64"
        if len(present):
            minimum, maximum = float(present.min()), float(present.max())
    else:
        dtype = DTYPES[kind]
    return ColumnSchema(
        name=name,
        dtype=dtype,
        kind=kind,
        categories=categories,
        minimum=minimum,
        maximum=maximum,
        nullable=True,  # every pipeline imputes missing values
    )


def build_input_schema(
    frame: pd.DataFrame,
    kinds: dict[str, ColumnKind],
    time_column: str | None,
    group_column: str | None,
    any_text: list[str] | None = None,
) -> InputSchema:
    """The manifest's input schema for the cleaned input columns ``kinds`` of ``frame``, in order.

    ``any_text``: categorical columns that accept any text (see :func:`column_schema`).
    """
    free = set(any_text or [])
    return InputSchema(
        columns=[column_schema(name, frame[name], kind, name in free) for name, kind in kinds.items()],
        time_column=time_column,
        group_column=group_column,
    )
