"""Audit records queue the request's frame and arrays as they are; the buffer writes them as plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dropml.audit import json_line


def test_a_float_frame_becomes_row_objects_with_null_for_a_gap():
    frame = pd.DataFrame([[1.5, np.nan], [2.0, 3.0]], columns=["a", "b"])
    line = json_line({"inputs": frame, "outputs": {"m": np.array(["yes", "no"], dtype=object)}})
    assert json.loads(line) == {
        "inputs": [{"a": 1.5, "b": None}, {"a": 2.0, "b": 3.0}],
        "outputs": {"m": ["yes", "no"]},
    }


def test_a_mixed_frame_keeps_text_and_writes_dates_as_iso():
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-02"]), "sex": ["F"], "n": [np.int64(3)]})
    record = json.loads(json_line({"inputs": frame, "outputs": {"m": np.array([0.25])}}))
    assert record["inputs"] == [{"when": "2024-01-02T00:00:00.000", "sex": "F", "n": 3}]
    assert record["outputs"] == {"m": [0.25]}


def test_plain_records_are_written_as_they_are():
    assert json.loads(json_line({"inputs": [{"x": 1}], "outputs": {"m": [1]}})) == {
        "inputs": [{"x": 1}],
        "outputs": {"m": [1]},
    }
