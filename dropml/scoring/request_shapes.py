"""A request's rows, a parsed JSON body in any accepted shape or a CSV, → the checked input the pipelines get.

Accepted shapes: one record as an object; a batch as a list of objects (or of
value lists in schema order); a column-oriented object; and MLflow's
scoring-server shapes ``{"dataframe_split": {"columns", "data"}}``,
``{"dataframe_records": [...]}``, ``{"instances": [...]}`` and
``{"inputs": ...}``, so clients written for MLflow work unchanged. In every
shape, fields the models do not use (an id, the target) are ignored and named
in the answer, as MLflow's server ignores extra columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropml.errors import BadInput, TooLarge
from dropml.scoring.csv_input import read_scoring_csv
from dropml.scoring.validate import (
    ScoringInput,
    ignored_columns,
    records_from_split,
    rows_from_records,
    validate_frame,
)

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import InputSchema

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def check_row_count(count: int, max_rows: int, field: str = "body") -> None:
    """Refuse a batch of more than ``max_rows`` rows (``serving.max_batch_rows``): every channel's one row limit.

    Raises:
        TooLarge: (413) ``count`` is over the limit (``field`` names what was sent: a body, an uploaded file).
    """
    if count > max_rows:
        raise TooLarge(field, count, f"{count} rows is over serving.max_batch_rows ({max_rows})")


def _rows_input(schema: InputSchema, rows: list[Any], field: str) -> ScoringInput:
    """``instances``/``inputs`` given as lists of values, in the schema's column order."""
    import pandas as pd

    width = len(schema.names)
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, list) or len(row) != width:
            raise BadInput(
                field,
                None,
                f"{field}: row {position} must be an object or a list of {width} values",
                problems=[{"field": field, "row": position, "message": f"expected {width} values in schema order"}],
                http_status=422,
            )
    return _frame_input(schema, pd.DataFrame(rows, columns=schema.names, dtype=object))


def _frame_input(schema: InputSchema, raw: pd.DataFrame) -> ScoringInput:
    return ScoringInput(validate_frame(schema, raw), ignored_columns(schema, raw.columns), raw)


def _records_input(schema: InputSchema, records: list[Any]) -> ScoringInput:
    rows = rows_from_records(schema, records)  # refuses a record that is not an object
    ignored = ignored_columns(schema, (name for record in records for name in record))
    return ScoringInput(rows, ignored, records)


def _batch(schema: InputSchema, items: Any, field: str, max_rows: int) -> ScoringInput:
    if isinstance(items, dict):  # columnar: {"column": [values...]}
        import pandas as pd

        lengths = {len(v) if isinstance(v, list) else -1 for v in items.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise BadInput(field, None, f"{field}: a column-oriented object needs a list of equal length per column")
        check_row_count(lengths.pop(), max_rows)
        return _frame_input(schema, pd.DataFrame(items, dtype=object))
    if not isinstance(items, list):
        raise BadInput(field, None, f"{field} must be a list of records")
    check_row_count(len(items), max_rows)
    if items and all(isinstance(item, list) for item in items):
        return _rows_input(schema, items, field)
    return _records_input(schema, items)


def input_from_csv(schema: InputSchema, body: bytes, max_rows: int, source: str, field: str = "body") -> ScoringInput:
    """The checked input of a CSV of at most ``max_rows`` rows (a request body or an uploaded file, named ``source``).

    Raises:
        BadInput: empty, binary or malformed CSV (400); schema problems (422).
        TooLarge: (413) more than ``max_rows`` rows.
    """
    raw = read_scoring_csv(body, schema, source)
    check_row_count(len(raw), max_rows, field)
    return _frame_input(schema, raw)


def input_from_json(schema: InputSchema, document: Any, max_rows: int) -> ScoringInput:
    """The checked input for any accepted JSON shape of at most ``max_rows`` rows (other fields ignored, named).

    A top-level key that is also a schema column is read as a column of one
    record, never as an MLflow shape.

    Raises:
        BadInput: (400) an unknown shape or empty batch; (422) schema problems.
        TooLarge: (413) more than ``max_rows`` rows.
    """
    if isinstance(document, dict):
        names = set(schema.names)
        shape = next((k for k in MLFLOW_KEYS if k in document and k not in names), None)
        if shape == "dataframe_split":
            split = document["dataframe_split"]
            check_row_count(len(split.get("data", [])) if isinstance(split, dict) else 0, max_rows)
            return _frame_input(schema, records_from_split(split))
        if shape is not None:
            return _batch(schema, document[shape], shape, max_rows)
        return _records_input(schema, [document])
    if isinstance(document, list):
        return _batch(schema, document, "body", max_rows)
    raise BadInput("body", None, "the JSON body must be an object (one record), a list, or an MLflow input shape")
