"""Reading S3 notifications out of SQS messages and scheduler inputs (no AWS needed)."""

from __future__ import annotations

import json

import pytest

from dropml import events
from dropml.errors import BadInput
from tests.conftest import load_event


def test_url_encoded_key_is_decoded_once():
    body = load_event("sqs_s3_put_train.json")["Records"][0]["body"]
    [obj] = events.s3_objects(body)
    assert obj.key == "train/breast cancer.csv"
    assert obj.bucket == "dropml-data"
    assert obj.etag == "5d41402abc4b2a76b9719d911017c592"
    assert obj.size == 120943


def test_plus_and_percent_in_keys_decode_like_s3_sends_them():
    body = json.dumps({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "train%2Fmy+file%2Bx.csv"}}}]})
    assert [o.key for o in events.s3_objects(body)] == ["train/my file+x.csv"]


def test_s3_test_event_yields_no_objects():
    body = load_event("sqs_s3_test_event.json")["Records"][0]["body"]
    assert events.s3_objects(body) == []


@pytest.mark.parametrize("index", [0, 1])
def test_malformed_bodies_are_bad_input_naming_the_message(index):
    body = load_event("sqs_malformed.json")["Records"][index]["body"]
    with pytest.raises(BadInput, match="not an S3 notification") as caught:
        events.s3_objects(body)
    assert caught.value.field == "message"


def test_schedule_inputs_are_recognised_and_validated():
    weekly = load_event("schedule_weekly_retrain.json")
    assert events.is_schedule(weekly)
    assert not events.is_schedule(load_event("sqs_s3_put_train.json"))
    request = events.schedule_request(weekly, "train")
    assert (request.job, request.project, request.schedule) == ("train", "default", "weekly-retrain")
    with pytest.raises(BadInput, match="asked for 'train'") as caught:
        events.schedule_request(weekly, "score")
    assert caught.value.field == "job"
    with pytest.raises(BadInput) as caught:
        events.schedule_request({"schedule": "x", "project": "Bad Name"}, "train")
    assert caught.value.field == "project"


def test_the_monitoring_schedule_asks_for_the_day_before_or_the_day_it_names():
    daily = load_event("schedule_daily_monitoring.json")
    assert events.is_schedule(daily)
    assert events.schedule_job(daily) == "monitor"
    assert events.monitoring_request(daily) == events.MonitoringRequest("daily-monitoring", None, None)
    named = events.monitoring_request({**daily, "day": "2026-12-06", "project": "glass"})
    assert (named.day, named.project) == ("2026-12-06", "glass")
    with pytest.raises(BadInput) as caught:
        events.monitoring_request({**daily, "day": "yesterday"})
    assert caught.value.field == "day"


def test_every_sample_event_is_valid_json_with_the_expected_shape():
    from tests.conftest import EVENTS

    names = sorted(p.name for p in EVENTS.glob("*.json"))
    assert {"sqs_s3_put_train.json", "sqs_s3_put_manifest.json", "sqs_s3_put_test.json"} <= set(names)
    for name in names:
        event = load_event(name)
        if name.startswith("sqs_"):
            assert all(r["eventSource"] == "aws:sqs" and r["messageId"] for r in event["Records"]), name
        elif name.startswith("apigw_v2"):
            assert event["version"] == "2.0", name
            assert event["rawPath"].startswith("/api/v1/"), name
        elif name.startswith("apigw_v1"):
            assert event["httpMethod"] in ("GET", "POST"), name
            assert event["path"].startswith("/api/v1/"), name
        else:
            assert events.is_schedule(event), name
