"""The launcher's command line: same entry point for ECS and local, validated before anything starts."""

from __future__ import annotations

import json

import pytest

from dropml.errors import BadInput
from dropml.jobs import launcher


def test_training_arguments_carry_key_run_id_and_overrides():
    arguments = launcher.job_arguments("train", "train/crypto/x.csv", {"target": "close"}, "train-abc")
    assert arguments[:5] == ["train", "--key", "train/crypto/x.csv", "--run-id", "train-abc"]
    assert json.loads(arguments[arguments.index("--overrides") + 1]) == {"target": "close"}


def test_scoring_arguments_carry_the_request_id():
    assert launcher.job_arguments("score", "test/x.csv", None, "score-1") == [
        "score",
        "--key",
        "test/x.csv",
        "--request-id",
        "score-1",
    ]


def test_monitoring_arguments_name_the_day_and_refuse_overrides():
    key = "audit/samples/date=2026-12-06/"
    assert launcher.job_arguments("monitor", key, None, "m-1") == ["monitor", "--key", key, "--run-id", "m-1"]
    with pytest.raises(BadInput) as caught:
        launcher.job_arguments("monitor", key, {"target": "x"}, "m-1")
    assert caught.value.field == "overrides"
    with pytest.raises(BadInput) as caught:
        launcher.job_arguments("monitor", "test/x.csv", None, "m-1")
    assert caught.value.field == "key"


@pytest.mark.parametrize(
    ("job", "key", "field"),
    [("train", "test/x.csv", "key"), ("score", "train/x.csv", "key"), ("deploy", "train/x.csv", "job")],
)
def test_wrong_job_or_prefix_is_refused_naming_the_field(job, key, field):
    with pytest.raises(BadInput) as caught:
        launcher.job_arguments(job, key, None, "r")
    assert caught.value.field == field
