"""The fast CSV reader never changes an answer: the same frame, or the same problems, as pandas' reader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropml.errors import BadInput
from dropml.manifest import ColumnSchema, InputSchema
from dropml.scoring import csv_input
from dropml.scoring.csv_input import read_scoring_csv
from dropml.scoring.validate import check_csv_rows, check_csv_width, validate_frame
from dropml.storage.csv_reader import read_csv_bytes

SCHEMA = InputSchema(
    columns=[
        ColumnSchema(name="age", dtype="float64", kind="numeric"),
        ColumnSchema(name="sex", dtype="str", kind="categorical", categories=["F", "M"]),
        ColumnSchema(name="smoker", dtype="bool", kind="boolean"),
        ColumnSchema(name="code", dtype="int64", kind="categorical", categories=["1", "2"]),
        ColumnSchema(name="visits", dtype="int64", kind="numeric", nullable=False),
    ]
)
NUMERIC = InputSchema(
    columns=[ColumnSchema(name=f"x{i}", dtype="float64", kind="numeric", nullable=i != 0) for i in range(4)]
)
CELLS = ["1", "2", "2.5", "-3", "1e3", "1e400", "inf", "-nan", "NA", "", " ", " 5", "1_000", "0x10", "abc", "F", "M",
         "f", "true", "False", "yes", "1.0", '"4"', '"x,y"', "None", "null", "2020-01-01", "é"]  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_reader_for_any_size(monkeypatch):
    monkeypatch.setattr(csv_input, "FAST_READ_MIN_BYTES", 0)  # these bodies are small; big ones take this path


def _reference(body: bytes, schema: InputSchema) -> pd.DataFrame:
    """What the API did before the fast reader: pandas' reader and the row-by-row checks."""
    check_csv_width(body, schema, "body")
    raw = read_csv_bytes(body, "body")
    check_csv_rows(body, raw, "body")
    return validate_frame(schema, raw)


def _outcome(read, body: bytes, schema: InputSchema):
    try:
        return "frame", read(body, schema)
    except BadInput as err:
        return "problems", sorted((p["field"], p.get("row")) for p in err.problems)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schema=st.sampled_from([SCHEMA, NUMERIC]),
    order=st.randoms(use_true_random=False),
    rows=st.lists(st.lists(st.sampled_from(CELLS), min_size=4, max_size=6), min_size=1, max_size=8),
)
def test_same_frame_or_same_problems_as_pandas_reader(schema, order, rows):
    names = list(schema.names)
    order.shuffle(names)
    lines = [",".join(names)] + [",".join(row[: len(names)]) for row in rows]
    body = ("\n".join(lines) + "\n").encode()
    fast = _outcome(lambda b, s: validate_frame(s, read_scoring_csv(b, s, "body")), body, schema)
    slow = _outcome(_reference, body, schema)
    assert fast[0] == slow[0], (body, fast, slow)
    if fast[0] == "frame":
        pd.testing.assert_frame_equal(fast[1], slow[1])
    else:
        assert fast[1] == slow[1], (body, fast, slow)


def test_a_boolean_column_read_as_float_accepts_one_point_zero_as_true():
    # Found by the test above: pandas reads the column [1, 2.5] as floats, and 1.0 is as true as "1".
    body = b"age,sex,smoker,code,visits\n1,F,1,1,1\n1,F,2.5,1,1\n"
    fast = _outcome(lambda b, s: validate_frame(s, read_scoring_csv(b, s, "body")), body, SCHEMA)
    assert fast == _outcome(_reference, body, SCHEMA) == ("problems", [("smoker", 2)])
    # and the text "1.0" (the fast reader keeps text) is as true as the number pandas makes of it
    body = b"age,sex,smoker,code,visits\n1,F,1.0,1,1\n"
    fast = _outcome(lambda b, s: validate_frame(s, read_scoring_csv(b, s, "body")), body, SCHEMA)
    assert fast[0] == _outcome(_reference, body, SCHEMA)[0] == "frame"
    assert fast[1]["smoker"].tolist() == [True]


def test_a_batch_of_exactly_the_schema_columns_is_read_by_pyarrow(monkeypatch):
    used = []
    real = csv_input._read_with_schema_types
    monkeypatch.setattr(csv_input, "_read_with_schema_types", lambda b, s: used.append(real(b, s)) or used[-1])
    frame = read_scoring_csv(b"x3,x2,x1,x0\n1,2,3,4\n5,,7,8\n", NUMERIC, "body")
    assert used[0] is not None
    assert frame["x2"].isna().tolist() == [False, True]
    np.testing.assert_array_equal(validate_frame(NUMERIC, frame).to_numpy(), [[4, 3, 2, 1], [8, 7, np.nan, 5]])


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"x0,x1,x2,x3,id\n1,2,3,4,a\n", "an extra column"),
        (b"x0,x1,x2,x0\n1,2,3,4\n", "a repeated column"),
        (b"x0,x1,x2,x3\n1,2,3\n", "a ragged row"),
        (b"x0,x1,x2,x3\n1,2,3,oops\n", "a bad number"),
        (b'x0,x1,x2,x3\n1,2,3,"4\n"\n', "a quoted newline"),
    ],
)
def test_anything_unusual_is_left_to_pandas_reader(body, why):
    assert csv_input._read_with_schema_types(body, NUMERIC) is None, why


def test_ragged_row_is_still_named_by_row():
    with pytest.raises(BadInput) as err:
        read_scoring_csv(b"x0,x1,x2,x3\n1,2,3,4\n1,2,3\n", NUMERIC, "the CSV body")
    assert err.value.http_status == 422
    assert "row 2 has 3 values; the header has 4" in str(err.value)


def test_a_small_body_is_read_by_pandas(monkeypatch):
    monkeypatch.setattr(csv_input, "FAST_READ_MIN_BYTES", 1 << 20)
    assert csv_input._read_with_schema_types(b"x0,x1,x2,x3\n1,2,3,4\n", NUMERIC) is None


@pytest.mark.parametrize(
    ("encoding", "delimiter", "decimal"),
    [("cp1252", ";", ","), ("utf-8-sig", ",", "."), ("utf-16", "\t", "."), ("latin-1", "\t", ",")],
)
def test_a_spreadsheet_export_scores_like_the_plain_file(encoding, delimiter, decimal):
    rows = [("59.5", "M", "true", "1", "3"), ("61.25", "F", "no", "2", "4")]
    plain = "age,sex,smoker,code,visits\n" + "".join(",".join(r) + "\n" for r in rows)
    exported = delimiter.join(["age", "sex", "smoker", "code", "visits"]) + "\n"
    exported += "".join(delimiter.join([r[0].replace(".", decimal), *r[1:]]) + "\n" for r in rows)
    expected = validate_frame(SCHEMA, read_scoring_csv(plain.encode(), SCHEMA, "body"))
    found = validate_frame(SCHEMA, read_scoring_csv(exported.encode(encoding), SCHEMA, "body"))
    pd.testing.assert_frame_equal(found, expected)
    assert found["age"].tolist() == [59.5, 61.25]
    rewritten = csv_input.plain_csv_bytes(exported.encode(encoding), SCHEMA, "body")
    assert rewritten.decode() == plain
