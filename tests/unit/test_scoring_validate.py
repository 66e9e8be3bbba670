"""Rows against a version's input schema: every problem named by field and row, the same for records and frames."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropml import audit
from dropml.errors import BadInput
from dropml.manifest import ColumnSchema, InputSchema
from dropml.scoring import validate
from dropml.scoring.rows import ColumnRows, NumberRows, as_frame
from dropml.scoring.validate import (
    MAX_PROBLEMS,
    check_csv_rows,
    check_csv_width,
    frame_from_records,
    ignored_columns,
    neutralise_formulas,
    records_from_split,
    validate_frame,
)

SCHEMA = InputSchema(
    columns=[
        ColumnSchema(name="age", dtype="float64", kind="numeric", minimum=18, maximum=90),
        ColumnSchema(name="sex", dtype="str", kind="categorical", categories=["F", "M"]),
        ColumnSchema(name="smoker", dtype="bool", kind="boolean"),
        ColumnSchema(name="code", dtype="int64", kind="categorical", categories=["1", "2"]),
        ColumnSchema(name="visits", dtype="int64", kind="numeric", nullable=False),
    ]
)
GOOD = {"age": 40, "sex": "F", "smoker": False, "code": 2, "visits": 3}


def _problems(err: pytest.ExceptionInfo[BadInput]) -> list[tuple]:
    return [(p["field"], p.get("row"), p["message"]) for p in err.value.problems]


def test_good_record_becomes_one_typed_frame_in_schema_order():
    frame = frame_from_records(SCHEMA, [{**GOOD, "age": "40.5"}])
    assert list(frame.columns) == ["age", "sex", "smoker", "code", "visits"]
    assert frame["age"].tolist() == [40.5]
    assert frame["age"].dtype == np.float64
    assert frame["sex"].tolist() == ["F"]
    assert frame["smoker"].tolist() == [False]
    assert frame["code"].tolist() == [2.0]


def test_every_problem_of_a_record_is_listed_with_field_and_row():
    records = [GOOD, {"age": "old", "sex": "X", "smoker": "maybe", "code": 3, "extra": 1}]
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, records)
    assert err.value.http_status == 422
    assert sorted(_problems(err), key=str) == sorted(
        [
            ("visits", 2, "missing field"),
            ("age", 2, "expected a number, got 'old'"),
            ("sex", 2, "unseen category 'X'; expected one of: F, M"),
            ("smoker", 2, "expected true or false, got 'maybe'"),
            ("code", 2, "unseen category '3'; expected one of: 1, 2"),
        ],
        key=str,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a number, got a boolean"),
        ("inf", "expected a finite number"),
        ([1], "expected a number, got list"),
        ({"a": 1}, "expected a number, got dict"),
    ],
)
def test_wrong_types_are_refused_not_coerced(value, message):
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, [{**GOOD, "age": value}])
    assert _problems(err) == [("age", 1, message)]


def test_blank_values_are_missing_and_required_columns_say_so():
    frame = frame_from_records(SCHEMA, [{**GOOD, "age": None, "sex": ""}])
    assert np.isnan(frame["age"][0])
    assert frame["sex"].isna().tolist() == [True]
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, [{**GOOD, "visits": " "}])
    assert _problems(err) == [("visits", 1, "a value is required")]


def test_extra_fields_of_records_are_ignored_and_named_once_in_first_seen_order():
    records = [{**GOOD, "id": 7, "target": 1}, {"note": "x", **GOOD, "id": 8}]
    frame = frame_from_records(SCHEMA, records)
    assert list(frame.columns) == SCHEMA.names
    assert ignored_columns(SCHEMA, (name for record in records for name in record)) == ["id", "target", "note"]


def test_empty_batch_and_non_object_records_are_refused():
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, [])
    assert err.value.http_status == 400
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, [GOOD, 5])
    assert _problems(err) == [("body", 2, "a record must be a JSON object, got int")]


def test_frame_path_reports_columns_and_rows_like_the_record_path():
    frame = pd.DataFrame({"age": ["30", "x", None], "sex": ["F", "M", "Q"], "smoker": ["yes", "no", "1"]})
    frame["code"] = [1, 2, 2]
    frame["other"] = 0
    with pytest.raises(BadInput) as err:
        validate_frame(SCHEMA, frame)
    assert _problems(err) == [
        ("visits", None, "missing column"),
        ("age", 2, "expected a number, got 'x'"),
        ("sex", 3, "unseen category 'Q'; expected one of: F, M"),
    ]


def test_frame_path_ignores_extra_columns_names_them_and_types_numbers_fast():
    frame = pd.DataFrame({"id": ["a", "b"], **{k: [v, v] for k, v in GOOD.items()}, "target": [1, 0]})
    checked = validate_frame(SCHEMA, frame)
    assert list(checked.columns) == SCHEMA.names
    assert ignored_columns(SCHEMA, frame.columns) == ["id", "target"]
    assert checked["visits"].dtype == np.float64
    assert checked["smoker"].tolist() == [False, False]


def test_problems_are_capped_with_a_count_of_the_rest():
    frame = pd.DataFrame({**{k: [v] * 300 for k, v in GOOD.items()}, "age": ["bad"] * 300})
    with pytest.raises(BadInput) as err:
        validate_frame(SCHEMA, frame)
    assert len(err.value.problems) == MAX_PROBLEMS + 1
    assert err.value.problems[-1] == {"field": "*", "message": "… and 200 more problems"}


def test_dataframe_split_rows_must_match_columns():
    assert records_from_split({"columns": ["a", "b"], "data": [[1, 2]]}).to_dict("records") == [{"a": 1, "b": 2}]
    with pytest.raises(BadInput) as err:
        records_from_split({"columns": ["a", "b"], "data": [[1, 2], [3]]})
    assert err.value.problems[0]["row"] == 2


def test_formula_cells_are_neutralised_but_numbers_stay_numbers():
    frame = pd.DataFrame({"name": ["=HYPERLINK(1)", "+x", "@a", "-b", "ok"], "value": [-1.5, 2, 3, 4, 5]})
    out = neutralise_formulas(frame)
    assert out["name"].tolist() == ["'=HYPERLINK(1)", "'+x", "'@a", "'-b", "ok"]
    assert out["value"].tolist() == [-1.5, 2, 3, 4, 5]
    assert frame["name"][0] == "=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (10**400, "expected a finite number"),
        ("9" * 400, "expected a finite number"),
        (1e308, "expected a number between -3.4e+38 and 3.4e+38"),
    ],
)
def test_numbers_too_big_for_the_models_are_refused_by_field(value, message):
    with pytest.raises(BadInput) as err:
        frame_from_records(SCHEMA, [{**GOOD, "age": value}])
    assert _problems(err) == [("age", 1, message)]
    frame = pd.DataFrame([{**GOOD, "age": 1e308}])
    with pytest.raises(BadInput) as err:
        validate_frame(SCHEMA, frame)
    assert _problems(err)[0][:2] == ("age", 1)


def test_dataframe_split_with_a_repeated_column_is_refused():
    with pytest.raises(BadInput) as err:
        records_from_split({"columns": ["a", "b", "a"], "data": [[1, 2, 3]]})
    assert err.value.field == "dataframe_split.columns"
    assert "a more than once" in err.value.message


def test_very_wide_csv_is_refused_from_its_header_alone():
    body = (",".join(f"c{i}" for i in range(100_000)) + "\n").encode()
    with pytest.raises(BadInput, match=r"has 100,000 columns; the models use 5 \(at most 105 accepted\)"):
        check_csv_width(body, SCHEMA, "the CSV body")
    check_csv_width(b"age,sex,smoker,code,visits,id\n1,F,true,1,2,x\n", SCHEMA, "the CSV body")


def test_rows_with_too_few_or_too_many_values_are_named():
    body = b"age,sex,visits\n1,F,2\n3,M\n\n4\n"
    frame = pd.read_csv(io.BytesIO(body))
    with pytest.raises(BadInput) as err:
        check_csv_rows(body, frame, "data.csv")
    assert err.value.http_status == 422
    assert err.value.message == "data.csv: row 2 has 2 values; the header has 3 (and 1 more)"
    assert [p["row"] for p in err.value.problems] == [2, 3]
    every_row_long = b"age,sex,visits\n1,F,2,9\n3,M,4,9\n"  # pandas would silently use age as the index
    with pytest.raises(BadInput, match="row 1 has 4 values; the header has 3"):
        check_csv_rows(every_row_long, pd.read_csv(io.BytesIO(every_row_long)), "data.csv")
    clean = b"age,sex,visits\n1,F,2\n"
    check_csv_rows(clean, pd.read_csv(io.BytesIO(clean)), "clean.csv")


NUMBERS = InputSchema(
    columns=[ColumnSchema(name=f"x{i}", dtype="float64", kind="numeric", nullable=i != 0) for i in range(3)]
)


def test_an_all_numeric_batch_becomes_one_float_block_equal_to_column_by_column():
    raw = pd.DataFrame({"x2": [1.5, np.nan], "x0": [1, 2], "x1": [3.0, 4.0]})
    frame = validate_frame(NUMBERS, raw)
    assert list(frame.columns) == ["x0", "x1", "x2"]
    assert frame.dtypes.tolist() == [np.float64] * 3
    np.testing.assert_array_equal(frame.to_numpy(), [[1, 3, 1.5], [2, 4, np.nan]])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"x0": [1.0, np.nan], "x1": [1.0, 2.0], "x2": [1.0, 2.0]}, ("x0", 2, "a value is required")),
        ({"x0": [1.0, 2.0], "x1": [1.0, 1e300], "x2": [1.0, 2.0]}, ("x1", 2, "expected a number between")),
        ({"x0": [1.0, 2.0], "x1": [1.0, 2.0], "x2": [np.inf, 2.0]}, ("x2", 1, "expected a finite number")),
    ],
)
def test_an_all_numeric_batch_with_a_bad_value_names_its_row(raw, expected):
    with pytest.raises(BadInput) as err:
        validate_frame(NUMBERS, pd.DataFrame(raw))
    field, row, message = _problems(err)[0]
    assert (field, row) == expected[:2]
    assert message.startswith(expected[2])


JSON_VALUES = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["1.5", " 2", "", "abc", "nan"]),
)


def _outcome_of(records, schema=NUMBERS):
    try:
        return "frame", frame_from_records(schema, records)
    except BadInput as err:
        return "problems", [(p["field"], p.get("row"), p["message"]) for p in err.problems]


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(["x0", "x1", "x2", "id"]), JSON_VALUES, min_size=2, max_size=4),
        min_size=1,
        max_size=4,
    )
)
def test_all_number_records_take_the_block_path_with_the_same_answer_as_the_value_rules(records):
    # The block path (every value a JSON number) must give exactly what the per-value rules give,
    # including refusing the same records with the same messages (it steps aside for those).
    fast = _outcome_of(records)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate, "_numeric_records", lambda schema, names, records: None)
        slow = _outcome_of(records)
    assert fast[0] == slow[0]
    if fast[0] == "frame":
        pd.testing.assert_frame_equal(fast[1], slow[1])
    else:
        assert fast[1] == slow[1]


def test_a_record_of_numbers_is_read_as_one_float_block():
    frame = frame_from_records(NUMBERS, [{"x0": 1, "x1": 2.5, "x2": -3, "id": "ignored"}, {"x0": 4, "x1": 5, "x2": 6}])
    assert frame.to_numpy().tolist() == [[1.0, 2.5, -3.0], [4.0, 5.0, 6.0]]
    a_bool = [{"x0": True, "x1": 1, "x2": 1}]  # a bool is not a number
    assert validate._numeric_records(NUMBERS, NUMBERS.names, a_bool) is None


WIDTH_COUNT = InputSchema(
    columns=[
        ColumnSchema(name="width", dtype="float64", kind="numeric"),
        ColumnSchema(name="count", dtype="int64", kind="numeric", nullable=True),
    ]
)


def test_number_records_stay_a_matrix_and_become_the_frame_a_csv_would_give():
    records = [{"width": 1.5, "count": 3, "id": "a"}, {"width": -2, "count": 7}]
    rows = validate.rows_from_records(WIDTH_COUNT, records)
    assert isinstance(rows, NumberRows)  # no DataFrame made for the usual request
    assert len(rows) == 2
    assert rows.columns == ["width", "count"]
    assert rows.to_numpy("float32").dtype == np.float32
    csv = "width,count,id\n1.5,3,a\n-2,7,\n"
    from_csv = validate_frame(WIDTH_COUNT, pd.read_csv(io.StringIO(csv)))
    pd.testing.assert_frame_equal(as_frame(rows), from_csv)  # the same values, dtypes and column index
    by_pandas = pd.read_csv(io.StringIO(csv))[["width", "count"]].astype("float64")  # not through NumberRows
    by_pandas.columns = pd.Index(["width", "count"], dtype=object)
    pd.testing.assert_frame_equal(as_frame(rows), by_pandas)
    assert as_frame(rows).columns.dtype == object  # plain strings, as scikit-learn's feature-name check reads them


def test_records_that_need_the_rules_are_numpy_columns_and_a_gap_is_null_in_the_audit_rows():
    rows = validate.rows_from_records(WIDTH_COUNT, [{"width": "1.5", "count": 3}])
    assert isinstance(rows, ColumnRows)
    pd.testing.assert_frame_equal(rows.frame, validate_frame(WIDTH_COUNT, pd.DataFrame({"width": [1.5], "count": [3]})))
    rows = NumberRows(np.array([[1.5, np.nan]]), ["width", "count"])
    assert rows.records() == [{"width": 1.5, "count": None}]
    assert json.loads(audit.json_line({"inputs": rows})) == json.loads(audit.json_line({"inputs": rows.frame}))


MIXED = InputSchema(
    columns=[
        ColumnSchema(name="size", dtype="float64", kind="numeric"),
        ColumnSchema(name="member", dtype="bool", kind="boolean"),
        ColumnSchema(name="plan", dtype="object", kind="categorical", categories=["basic", "pro"]),
        ColumnSchema(name="code", dtype="int64", kind="categorical", categories=["1", "2"]),
        ColumnSchema(name="since", dtype="datetime64[ns]", kind="datetime"),
    ]
)


@pytest.mark.parametrize(
    "since",
    ["2024-02-29", "2024-02-29 13:45", "2024-02-29T13:45:07.25", "Feb 29, 2024", "2024-02-29T13:45:00+02:00", None],
)
def test_mixed_records_stay_numpy_and_become_the_frame_a_csv_would_give(since):
    records = [
        {"size": 2.5, "member": "yes", "plan": "pro", "code": 2, "since": since},
        {"size": None, "member": False, "plan": None, "code": "1", "since": "1999-12-31"},
    ]
    rows = validate.rows_from_records(MIXED, records)
    assert isinstance(rows, ColumnRows)
    assert rows.kinds == {"size": "number", "member": "boolean", "plan": "text", "code": "number", "since": "datetime"}
    from_csv = validate_frame(MIXED, pd.DataFrame(records, dtype=object))
    for name in MIXED.names:  # the same values; a zoned time as naive UTC, as training's coerce step reads it
        expected = from_csv[name]
        if name == "since" and getattr(expected.dtype, "tz", None) is not None:
            expected = expected.dt.tz_convert(None)
        pd.testing.assert_series_equal(rows.frame[name], expected, check_dtype=name != "since", check_index_type=False)
    assert json.loads(audit.json_line({"inputs": rows}))["inputs"][1]["since"] == "1999-12-31T00:00:00.000"
