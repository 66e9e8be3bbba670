"""Training profiles, batch observations and drift reports on checked rows of every column kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dropml.config import DriftSettings, MonitoringThresholds
from dropml.errors import BadInput
from dropml.manifest import ColumnSchema, InputSchema
from dropml.monitoring.batch import merge, observe
from dropml.monitoring.drift import compare, uncompared
from dropml.monitoring.profile import MAX_CATEGORIES, build_profile, parse_profile
from dropml.scoring.rows import NumberRows
from dropml.scoring.validate import frame_from_records, validate_frame

DRIFT = DriftSettings()
THRESHOLDS = MonitoringThresholds()


def _training(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(10, 2, rows),
            "n": rng.integers(0, 5, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
            "flag": rng.random(rows) < 0.3,
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
        }
    )
    frame.loc[frame.index[::10], "x"] = np.nan
    return frame


def _schema(frame: pd.DataFrame) -> InputSchema:
    return InputSchema(
        columns=[
            ColumnSchema(name="x", dtype="float64", kind="numeric", minimum=frame.x.min(), maximum=frame.x.max()),
            ColumnSchema(name="n", dtype="int64", kind="numeric", minimum=0, maximum=4),
            ColumnSchema(name="colour", dtype="object", kind="categorical", categories=["blue", "green", "red"]),
            ColumnSchema(name="flag", dtype="bool", kind="boolean"),
            ColumnSchema(name="when", dtype="datetime64[ns]", kind="datetime"),
        ]
    )


@pytest.fixture(scope="module")
def trained():
    frame = _training()
    schema = _schema(frame)
    return frame, schema, build_profile(schema, validate_frame(schema, frame), points=200)


def test_the_profile_summarises_every_column_and_round_trips(trained):
    frame, _, profile = trained
    x = profile.columns["x"]
    assert (x.rows, x.missing) == (4500, 500)
    assert x.minimum == frame.x.min()
    assert x.maximum == frame.x.max()
    assert len(x.points) == 200
    assert x.points == sorted(x.points)
    assert set(x.points) <= set(frame.x.dropna())  # quantiles are values seen, not interpolations
    assert sorted(profile.columns["n"].points) == profile.columns["n"].points
    assert profile.columns["colour"].counts == frame.colour.value_counts().to_dict()
    assert profile.columns["flag"].counts == {"false": int((~frame.flag).sum()), "true": int(frame.flag.sum())}
    assert (profile.columns["when"].kind, profile.columns["when"].rows) == ("datetime", 5000)
    assert parse_profile(profile.to_bytes(), "p.json") == profile


def test_a_profile_that_is_not_one_is_refused_naming_the_field():
    with pytest.raises(BadInput, match="p.json: columns"):
        parse_profile(b'{"rows": 1}', "p.json")
    with pytest.raises(BadInput, match="not valid JSON"):
        parse_profile(b"{", "p.json")


def test_a_free_text_column_keeps_its_most_frequent_values_and_counts_the_rest():
    values = [f"v{i}" for i in range(MAX_CATEGORIES + 50)] * 2 + ["v1"] * 10
    schema = InputSchema(columns=[ColumnSchema(name="t", dtype="object", kind="categorical")])
    profile = build_profile(schema, validate_frame(schema, pd.DataFrame({"t": values})))
    column = profile.columns["t"]
    assert len(column.counts) == MAX_CATEGORIES
    assert column.counts["v1"] == 12
    assert column.other == 100
    assert column.rows == len(values)


def test_a_batch_like_training_has_no_drift(trained):
    _, schema, profile = trained
    batch = validate_frame(schema, _training(800, seed=5))
    report = compare(profile, observe(schema, batch), DRIFT, THRESHOLDS)
    assert report.drifted_columns == 0
    assert report.tested_columns == 4
    assert report.alerts == []
    assert {c.column: c.test for c in report.columns} == {
        "x": "ks", "n": "ks", "colour": "chi_square", "flag": "chi_square", "when": None
    }  # fmt: skip
    assert all(c.decided_by == "p_value" for c in report.columns if c.tested)  # 800 rows: the tests decide


def test_a_shifted_batch_drifts_and_says_how(trained):
    _, schema, profile = trained
    batch = _training(3000, seed=6)
    batch["x"] = batch.x + 3  # 1.5 standard deviations
    batch["colour"] = "red"
    batch.loc[batch.index[:900], "n"] = np.nan  # 30 % missing where training had none
    report = compare(profile, observe(schema, validate_frame(schema, batch)), DRIFT, THRESHOLDS)
    by_column = {c.column: c for c in report.columns}
    assert by_column["x"].drifted
    assert by_column["x"].decided_by == "distance"
    assert by_column["x"].distance == pytest.approx(1.5, rel=0.15)
    assert by_column["colour"].drifted
    assert by_column["colour"].distance > 0.3
    assert not by_column["flag"].drifted
    assert report.drifted_share == pytest.approx(2 / 4)
    assert 0.01 < by_column["x"].outside_share < 0.1  # the upper tail, shifted past the training maximum
    assert report.missing_share_increase == pytest.approx(0.3, abs=0.01)
    assert report.missing_share_increase_column == "n"
    assert {a["threshold"] for a in report.alerts} == {"drifted_share", "missing_share_increase"}


def test_unknown_categories_and_values_past_the_range_are_shares_of_the_batch():
    schema = InputSchema(
        columns=[
            ColumnSchema(name="v", dtype="float64", kind="numeric", minimum=0, maximum=1),
            ColumnSchema(name="t", dtype="object", kind="categorical"),  # free text: any value accepted
        ]
    )
    training = pd.DataFrame({"v": np.linspace(0, 1, 200), "t": ["a", "b"] * 100})
    profile = build_profile(schema, validate_frame(schema, training))
    batch = pd.DataFrame({"v": [0.5] * 60 + [2.0] * 40, "t": ["a"] * 70 + ["zzz"] * 30})
    report = compare(profile, observe(schema, validate_frame(schema, batch)), DRIFT, THRESHOLDS)
    assert report.outside_range_share == pytest.approx(0.4)
    assert report.unknown_category_share == pytest.approx(0.3)
    assert {a["threshold"] for a in report.alerts} >= {"outside_range_share", "unknown_category_share"}


def test_blocks_observed_apart_and_merged_give_the_whole_batchs_report(trained):
    _, schema, profile = trained
    batch = validate_frame(schema, _training(1200, seed=8))
    whole = compare(profile, observe(schema, batch), DRIFT, THRESHOLDS)
    parts = [observe(schema, batch.iloc[i : i + 250]) for i in range(0, 1200, 250)]
    merged = compare(profile, merge(parts), DRIFT, THRESHOLDS)
    assert merged.to_json() == whole.to_json()


def test_a_sampled_batch_counts_every_row_and_tests_the_sample(trained):
    _, schema, _ = trained
    batch = validate_frame(schema, _training(20_000, seed=9))
    observed = observe(schema, batch, sample_share=0.1, seed=1)
    assert observed.rows == 20_000
    assert observed.columns["colour"].present == 20_000  # counts: every row
    assert 1700 < len(observed.columns["n"].values) < 2300  # numbers: about a tenth
    assert observed.columns["n"].weights.sum() == pytest.approx(20_000, rel=0.1)


def test_weighted_rows_stand_for_the_rows_they_were_drawn_from(trained):
    _, schema, profile = trained
    batch = validate_frame(schema, _training(300, seed=10))
    weighted = observe(schema, batch, row_weights=np.full(300, 4.0))
    assert weighted.rows == 1200
    assert weighted.columns["colour"].present == 1200
    report = compare(profile, weighted, DRIFT, THRESHOLDS)
    plain = compare(profile, observe(schema, batch), DRIFT, THRESHOLDS)
    # equal weights change the counts, not the shares or the effective number of values a test sees
    assert [c.p_value for c in report.columns] == pytest.approx([c.p_value for c in plain.columns], nan_ok=True)


def test_all_number_rows_are_observed_as_their_frame_would_be():
    schema = InputSchema(
        columns=[
            ColumnSchema(name="a", dtype="float64", kind="numeric", minimum=0, maximum=10),
            ColumnSchema(name="grade", dtype="int64", kind="categorical", categories=["1", "2", "3"]),
        ]
    )
    records = [{"a": float(i % 11), "grade": i % 3 + 1} for i in range(60)]
    frame = frame_from_records(schema, records)
    matrix = NumberRows(np.asarray([[r["a"], r["grade"]] for r in records], dtype=float), ["a", "grade"])
    by_frame, by_matrix = observe(schema, frame), observe(schema, matrix)
    assert by_matrix.columns["grade"].counts == by_frame.columns["grade"].counts == {"1": 20.0, "2": 20.0, "3": 20.0}
    assert by_matrix.columns["a"].values.tolist() == by_frame.columns["a"].values.tolist()


def test_a_version_without_a_profile_gets_counts_and_no_comparison(trained):
    _, schema, _ = trained
    batch = _training(100, seed=11)
    batch["x"] = 1000.0
    report = uncompared(observe(schema, validate_frame(schema, batch)), THRESHOLDS)
    assert report.tested_columns == 0
    assert all(c.note == "no training profile to compare with" for c in report.columns)
    assert [a["threshold"] for a in report.alerts] == ["outside_range_share"]  # the schema's range is still known


def test_too_few_values_are_counted_not_tested(trained):
    _, schema, profile = trained
    report = compare(profile, observe(schema, validate_frame(schema, _training(3, seed=12))), DRIFT, THRESHOLDS)
    assert report.tested_columns == 0
    assert report.drifted_share == 0.0


@pytest.mark.parametrize("name", ["penguins", "vega-seattle-weather", "sm-modechoice", "vega-cars", "sk-diabetes"])
def test_a_cleaned_training_frame_profiles_as_its_rows_checked_against_the_schema(name):
    """Training profiles its cleaned frame as it is; serving's batches are checked rows: both must agree."""
    from support.zoo import REAL

    from dropml.config import settings
    from dropml.training.clean import clean_frame
    from dropml.training.ingest import parse_training_csv
    from dropml.training.schema import build_input_schema

    case = next(c for c in REAL if c.name == name)
    conf = settings().training_for(name, {"target": case.target, **case.overrides})
    cleaned = clean_frame(parse_training_csv(case.load(), name)[0], conf)
    schema = build_input_schema(cleaned.frame, cleaned.kinds, None, None, any_text=cleaned.word_columns)
    assert build_profile(schema, cleaned.features) == build_profile(schema, validate_frame(schema, cleaned.features))
