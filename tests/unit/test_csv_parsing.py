"""CSV parsing never crashes: any bytes give a data frame or a BadInput that names the file."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dropml.errors import BadInput
from dropml.storage.csv_reader import read_csv_bytes


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_bad_input(body):
    try:
        frame = read_csv_bytes(body, "upload.csv")
    except BadInput as err:
        assert "upload.csv" in str(err)
        return
    assert isinstance(frame, pd.DataFrame)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=6), min_size=1, max_size=20))
@example(rows=[["\t"], ["\r0"]])  # a lone carriage return inside a tab-separated row (found by hypothesis in CI)
def test_ragged_text_rows_never_raise_anything_but_bad_input(rows):
    body = "\n".join(",".join(cell.replace("\n", " ") for cell in row) for row in rows).encode()
    try:
        read_csv_bytes(body, "ragged.csv")
    except BadInput as err:
        assert "ragged.csv" in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "ragged.csv is empty"),
        (b"  \n\n", "ragged.csv is empty"),
        (b"a,b\n1,2\n3,4,5,6\n", "ragged.csv is not valid CSV"),
        (b"a,b\n\x00\x01,1\n", "ragged.csv is not a text CSV file (it contains binary NUL bytes)"),
    ],
)
def test_bad_files_name_the_problem(body, message):
    with pytest.raises(BadInput) as caught:
        read_csv_bytes(body, "ragged.csv")
    assert message in str(caught.value)


def test_utf16_from_excel_unicode_text_is_read():
    frame = read_csv_bytes("a\tb\n\u00e9\t1\n".encode("utf-16"), "u.csv")
    assert frame.to_dict("list") == {"a": ["\u00e9"], "b": [1]}


def test_header_only_gives_an_empty_frame_with_columns():
    frame = read_csv_bytes(b"a,b,c\n", "h.csv")
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame.empty
