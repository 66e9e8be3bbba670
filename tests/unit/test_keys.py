"""S3 keys from outside never escape their prefix; project names are validated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropml.errors import BadInput
from dropml.storage import keys


@pytest.mark.parametrize(
    ("key", "project", "name"),
    [
        ("train/iris.csv", "default", "iris.csv"),
        ("train/glass/glass 2024 (v2).csv", "glass", "glass 2024 (v2).csv"),
        ("test/crypto/day+1.csv", "crypto", "day+1.csv"),
    ],
)
def test_valid_data_keys(key, project, name):
    parsed = keys.parse_data_key(key)
    assert (parsed.project, parsed.name) == (project, name)
    assert parsed.key == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("train/../models/default/v1/manifest.json", "has an empty, '.' or '..' part"),
        ("/train/x.csv", "is not a relative key"),
        ("train//x.csv", "has an empty, '.' or '..' part"),
        ("train/a/b/x.csv", "must be train/<file>.csv or train/<project>/<file>.csv"),
        ("models/x.csv", "must start with train/ or test/"),
        ("train/Glass/x.csv", "project name 'Glass' must match"),
        ("train/x.parquet", "must end in .csv"),
        ("train/.hidden.csv", "must end in .csv and use only"),
        ("train/x\\..\\y.csv", "is not a relative key"),
        ("train/x\x00.csv", "is not a relative key"),
        ("", "is not a relative key"),
    ],
)
def test_hostile_data_keys_are_refused_with_the_reason(key, message):
    with pytest.raises(BadInput) as caught:
        keys.parse_data_key(key)
    assert message in str(caught.value)
    assert caught.value.field in ("key", "project")


def test_kind_restricts_the_prefix():
    with pytest.raises(BadInput, match="must start with test/"):
        keys.parse_data_key("train/x.csv", "test")


def test_default_project_has_no_subfolder():
    assert keys.data_key("train", "default", "x.csv") == "train/x.csv"
    assert keys.predictions_key("glass", "x.csv") == "predictions/glass/x.csv"
    assert keys.manifest_key("glass", 3) == "models/glass/v3/manifest.json"
    assert keys.parse_manifest_key("models/glass/v3/manifest.json") == ("glass", 3)


@pytest.mark.parametrize("bad", ["models/glass/v0/manifest.json", "models/glass/3/manifest.json", "models/g/v1/x.json"])
def test_not_a_manifest_key(bad):
    with pytest.raises(BadInput, match=r"is not models/<project>/v<N>/manifest\.json"):
        keys.parse_manifest_key(bad)


@given(st.text(max_size=80))
def test_any_parsed_key_stays_inside_its_prefix(text):
    for candidate in (text, f"train/{text}", f"test/{text}.csv", f"train/{text}/x.csv"):
        try:
            parsed = keys.parse_data_key(candidate)
        except BadInput:
            continue
        assert parsed.key == candidate
        assert ".." not in candidate.split("/")
        assert keys.predictions_key(parsed.project, parsed.name).startswith("predictions/")
        assert keys.predictions_key(parsed.project, parsed.name).count("/") <= 2


@given(st.text(max_size=70))
def test_project_names_are_validated(name):
    try:
        keys.validate_project(name)
    except BadInput as err:
        assert err.field == "project"
        return
    assert "/" not in name
    assert ".." not in name


def test_a_monitoring_day_key_names_the_day_and_maybe_the_project():
    assert keys.monitoring_day_key("2026-12-06") == "audit/samples/date=2026-12-06/"
    assert keys.monitoring_day_key("2026-12-06", "glass") == "audit/samples/date=2026-12-06/glass/"
    assert keys.parse_monitoring_day_key("audit/samples/date=2026-12-06/glass/") == ("2026-12-06", "glass")
    assert keys.parse_monitoring_day_key("audit/samples/date=2026-12-06/") == ("2026-12-06", None)
    for bad in ("audit/samples/date=2026-12-06", "audit/keys/date=2026-12-06/", "audit/samples/date=x/", "train/a.csv"):
        with pytest.raises(BadInput, match="not a monitoring day"):
            keys.parse_monitoring_day_key(bad)
    with pytest.raises(BadInput) as caught:
        keys.monitoring_day_key("06/12/2026")
    assert caught.value.field == "day"


def test_drift_reports_are_filed_in_time_order_with_safe_names():
    when = datetime(2026, 12, 6, 9, 30, 1, 5, tzinfo=UTC)
    assert keys.drift_report_key("glass", when, "upload", "my file (2).csv") == (
        "reports/glass/monitoring/drift/2026-12-06/093001000005-upload-my_file_2_.csv.json"
    )
    assert (
        keys.realized_summary_key("glass", 3, "2026-12-06")
        == "reports/glass/monitoring/realized/v3/summary/2026-12-06.json"
    )
