"""Which rows lie past the training range: the same answer for a frame and for NumberRows, gaps never flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dropml.manifest import ColumnSchema, InputSchema
from dropml.scoring.ranges import TrainingRanges
from dropml.scoring.rows import NumberRows

SCHEMA = InputSchema(
    columns=[
        ColumnSchema(name="age", dtype="int64", kind="numeric", minimum=18, maximum=90),
        ColumnSchema(name="city", dtype="object", kind="categorical", categories=["a", "b"]),
        ColumnSchema(name="income", dtype="float64", kind="numeric", minimum=0.0, maximum=5000.0),
        ColumnSchema(name="never_filled", dtype="float64", kind="numeric"),  # no bounds recorded: not checked
    ]
)


def test_only_bounded_numeric_columns_are_checked():
    assert TrainingRanges.of(SCHEMA).columns == ("age", "income")


def test_a_frame_flags_values_past_either_bound_and_never_a_gap():
    frame = pd.DataFrame(
        {
            "age": pd.array([30, 17, None, 91], dtype="Int64"),
            "city": ["a", "b", "a", "b"],
            "income": [5000.0, 100.0, np.nan, 9e9],
            "never_filled": [1e12, 0.0, 0.0, 0.0],
        }
    )
    outside = TrainingRanges.of(SCHEMA).outside(frame)
    assert outside.to_json() == {"rows": [2, 4], "columns": {"age": 2, "income": 1}}  # 1-based; a bound is inside
    assert outside.labels().tolist() == ["", "age", "", "age;income"]


def test_number_rows_give_what_their_frame_gives():
    schema = InputSchema(columns=[c for c in SCHEMA.columns if c.kind == "numeric"][::-1])  # another column order
    rows = NumberRows(np.array([[0.0, 6000.0, 50.0], [0.0, -1.0, 10.0], [np.nan, np.nan, np.nan]]), schema.names)
    ranges = TrainingRanges.of(schema)
    assert ranges.outside(rows).to_json() == ranges.outside(rows.frame).to_json()
    assert ranges.outside(rows).to_json() == {"rows": [1, 2], "columns": {"income": 2, "age": 1}}


def test_a_schema_without_numbers_flags_nothing():
    schema = InputSchema(columns=[SCHEMA.columns[1]])
    outside = TrainingRanges.of(schema).outside(pd.DataFrame({"city": ["a", "b"]}))
    assert outside.to_json() == {"rows": [], "columns": {}}
    assert outside.labels().tolist() == ["", ""]
