"""JSON request shapes (a record, a batch, columns, MLflow's four) → one checked frame, or an error naming the field."""

from __future__ import annotations

import pandas as pd
import pytest

from dropml.errors import BadInput, TooLarge
from dropml.manifest import ColumnSchema, InputSchema
from dropml.scoring.request_shapes import input_from_json

SCHEMA = InputSchema(
    columns=[
        ColumnSchema(name="age", dtype="float64", kind="numeric", minimum=18, maximum=90),
        ColumnSchema(name="sex", dtype="str", kind="categorical", categories=["F", "M"]),
    ]
)
RECORDS = [{"age": 40, "sex": "F"}, {"age": 61.5, "sex": "M"}]
EXPECTED = pd.DataFrame({"age": [40.0, 61.5], "sex": ["F", "M"]})


@pytest.mark.parametrize(
    "document",
    [
        RECORDS,
        {"inputs": {"age": [40, 61.5], "sex": ["F", "M"]}},
        {"dataframe_split": {"columns": ["age", "sex"], "data": [[40, "F"], [61.5, "M"]]}},
        {"dataframe_records": RECORDS},
        {"instances": RECORDS},
        {"instances": [[40, "F"], [61.5, "M"]]},
        {"inputs": RECORDS},
    ],
    ids=["list", "inputs columns", "dataframe_split", "dataframe_records", "instances", "instances lists", "inputs"],
)
def test_every_accepted_shape_gives_the_same_checked_frame(document):
    frame = input_from_json(SCHEMA, document, max_rows=10).frame
    assert frame[["age", "sex"]].astype(object).values.tolist() == EXPECTED.astype(object).values.tolist()


@pytest.mark.parametrize(
    "document",
    [
        {"id": 7, "age": 40, "sex": "F", "target": 1},
        [{"id": 7, "age": 40, "sex": "F", "target": 1}],
        {"dataframe_records": [{"id": 7, "age": 40, "sex": "F", "target": 1}]},
        {"dataframe_split": {"columns": ["id", "age", "sex", "target"], "data": [[7, 40, "F", 1]]}},
        {"inputs": {"id": [7], "age": [40], "sex": ["F"], "target": [1]}},
    ],
    ids=["record", "list", "dataframe_records", "dataframe_split", "inputs columns"],
)
def test_every_shape_ignores_and_names_extra_fields_and_keeps_values_as_sent(document):
    given = input_from_json(SCHEMA, document, max_rows=10)
    assert list(given.frame.columns) == ["age", "sex"]
    assert given.ignored == ["id", "target"]
    sent = given.as_sent()
    assert list(sent.columns) == ["id", "age", "sex", "target"]
    assert sent.iloc[0].tolist() == [7, 40, "F", 1]  # 40 stays 40, not 40.0
    assert type(sent["age"].iloc[0]) is not float


def test_a_missing_field_is_still_refused_alongside_extra_ones():
    with pytest.raises(BadInput) as caught:
        input_from_json(SCHEMA, {"id": 7, "age": 40}, max_rows=10)
    assert caught.value.http_status == 422
    assert [(p["field"], p["message"]) for p in caught.value.problems] == [("sex", "missing field")]


def test_one_record_and_a_column_named_like_a_shape_is_a_record():
    schema = InputSchema(columns=[ColumnSchema(name="inputs", dtype="float64", kind="numeric")])
    frame = input_from_json(schema, {"inputs": 3}, max_rows=10).frame
    assert frame["inputs"].tolist() == [3.0]
    assert input_from_json(SCHEMA, RECORDS[0], max_rows=10).frame["sex"].tolist() == ["F"]


@pytest.mark.parametrize(
    ("document", "field", "status", "message"),
    [
        ("text", "body", 400, "the JSON body must be an object (one record), a list, or an MLflow input shape"),
        ({"instances": "x"}, "instances", 400, "instances must be a list of records"),
        (
            {"inputs": {"age": [1, 2], "sex": "F"}},
            "inputs",
            400,
            "inputs: a column-oriented object needs a list of equal length per column",
        ),
        ({"instances": [[40]]}, "instances", 422, "instances: row 1 must be an object or a list of 2 values"),
    ],
)
def test_bad_shapes_name_the_field(document, field, status, message):
    with pytest.raises(BadInput) as caught:
        input_from_json(SCHEMA, document, max_rows=10)
    assert (caught.value.field, caught.value.http_status, str(caught.value)) == (field, status, message)


@pytest.mark.parametrize(
    "document",
    [
        RECORDS * 3,
        {"dataframe_split": {"columns": ["age", "sex"], "data": [[40, "F"]] * 6}},
        {"inputs": {"age": [40] * 6, "sex": ["F"] * 6}},
    ],
    ids=["list", "dataframe_split", "columns"],
)
def test_more_rows_than_the_limit_is_too_large(document):
    with pytest.raises(TooLarge, match=r"6 rows is over serving.max_batch_rows \(5\)") as caught:
        input_from_json(SCHEMA, document, max_rows=5)
    assert caught.value.http_status == 413
