"""The three functions fed the sample events from events/, against the moto server over HTTP."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from fakes import write_opaque_version

from dropml import events, registry, storage
from dropml.aws import client as aws_client
from dropml.jobs import launcher
from dropml.local import world
from dropml.local.poller import load_handler
from dropml.manifest import Manifest
from dropml.storage import keys
from tests.conftest import load_event

CONTEXT = SimpleNamespace(function_name="test", aws_request_id="req-1", get_remaining_time_in_millis=lambda: 60000)


def handler(name: str):
    return load_handler(f"functions/{name}/")


@pytest.fixture
def stack(aws):
    """The world from template.yaml plus a queue subscribed to the SNS topic, to read announcements."""
    built = world.build()
    sqs, sns = aws_client("sqs"), aws_client("sns")
    url = sqs.create_queue(QueueName="sns-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=built.topic_arn, Protocol="sqs", Endpoint=arn)

    def announcements() -> list[dict]:
        found = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                found.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    return SimpleNamespace(world=built, announcements=announcements)


@pytest.fixture
def launches(monkeypatch):
    """Record launches instead of starting processes."""
    calls: list[tuple[str, str]] = []

    def fake_launch(job, key, overrides=None, correlation_id=None):
        calls.append((job, key))
        return f"arn:aws:ecs:us-east-1:123456789012:task/dropml/{len(calls)}"

    monkeypatch.setattr(launcher, "launch", fake_launch)
    return calls


def test_s3_test_event_is_ignored(stack, launches):
    response = handler("train_trigger")(load_event("sqs_s3_test_event.json"), CONTEXT)
    assert response == {"batchItemFailures": []}
    assert launches == []
    assert stack.announcements() == []


def test_url_encoded_key_is_decoded_and_training_starts(stack, launches):
    response = handler("train_trigger")(load_event("sqs_s3_put_train.json"), CONTEXT)
    assert response == {"batchItemFailures": []}
    assert launches == [("train", "train/breast cancer.csv")]
    [note] = stack.announcements()
    assert (note["step"], note["outcome"], note["key"]) == ("train", "succeeded", "train/breast cancer.csv")


def test_a_3_gb_training_file_is_started_not_refused(stack, launches):
    event = load_event("sqs_s3_put_train.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["size"] = 3 * 1024**3  # trains on Dask past dask.train_above_bytes
    event["Records"][0]["body"] = json.dumps(body)
    assert handler("train_trigger")(event, CONTEXT) == {"batchItemFailures": []}
    assert launches == [("train", "train/breast cancer.csv")]


def test_duplicate_delivery_launches_once(stack, launches):
    duplicate = load_event("sqs_s3_put_train_duplicate.json")
    assert handler("train_trigger")(duplicate, CONTEXT) == {"batchItemFailures": []}
    assert handler("train_trigger")(load_event("sqs_s3_put_train.json"), CONTEXT) == {"batchItemFailures": []}
    assert launches == [("train", "train/breast cancer.csv")]


def test_malformed_message_is_a_batch_item_failure_and_announced(stack, launches):
    event = load_event("sqs_malformed.json")
    response = handler("train_trigger")(event, CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    notes = stack.announcements()
    assert [(n["step"], n["outcome"]) for n in notes] == [("train", "failed"), ("train", "failed")]
    assert all("not an S3 notification" in n["error"] for n in notes)
    assert launches == []


def test_malformed_message_does_not_fail_the_good_ones_in_its_batch(stack, launches):
    event = load_event("sqs_malformed.json")
    event["Records"].append(load_event("sqs_s3_put_train.json")["Records"][0])
    response = handler("train_trigger")(event, CONTEXT)
    assert len(response["batchItemFailures"]) == 2
    assert launches == [("train", "train/breast cancer.csv")]


@pytest.mark.parametrize(
    ("name", "field", "words"),
    [
        ("sqs_s3_put_train_bad_key.json", "key", "'..' part"),
        ("sqs_s3_put_train_too_large.json", "size", "(storage.max_training_bytes): sample the file"),
    ],
)
def test_permanent_bad_input_is_announced_and_dropped(stack, launches, name, field, words):
    response = handler("train_trigger")(load_event(name), CONTEXT)
    assert response == {"batchItemFailures": []}  # retrying cannot help: dropped, not redriven
    assert launches == []
    [note] = stack.announcements()
    assert (note["step"], note["outcome"], note["error_type"], note["retried"]) == (
        "train",
        "failed",
        "BadInput" if field == "key" else "TooLarge",
        False,
    )
    assert words in note["error"]


def test_launch_failure_is_retried_announced_and_the_claim_released(stack, monkeypatch):
    def refuse(*args, **kwargs):
        raise launcher.LaunchFailed("ecs:RunTask failed: capacity")

    monkeypatch.setattr(launcher, "launch", refuse)
    event = load_event("sqs_s3_put_train.json")
    response = handler("train_trigger")(event, CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    [note] = stack.announcements()
    assert (note["outcome"], note["error_type"]) == ("failed", "LaunchFailed")
    assert list(storage.list_keys("idempotency/train/")) == []  # the retry can claim it again


def test_a_claim_left_behind_by_a_dead_invocation_is_taken_over(stack, launches):
    from dropml.jobs import idempotency
    from dropml.registry import project_settings

    event = load_event("sqs_s3_put_train.json")
    [obj] = events.s3_objects(event["Records"][0]["body"])
    token = idempotency.token(obj.key, obj.etag, project_settings.settings_token("default"))  # a run = file + settings
    stale = {"state": "claimed", "claimed_at": "2026-01-01T00:00:00.000Z"}
    storage.put_json(keys.idempotency_key("train", token), stale)
    assert handler("train_trigger")(event, CONTEXT) == {"batchItemFailures": []}
    assert launches == [("train", "train/breast cancer.csv")]
    assert storage.get_json(keys.idempotency_key("train", token))["state"] == "done"


def test_test_file_upload_starts_scoring(stack, launches):
    assert handler("batch_predict")(load_event("sqs_s3_put_test.json"), CONTEXT) == {"batchItemFailures": []}
    assert launches == [("score", "test/breast_cancer_sample.csv")]


def test_weekly_schedule_retrains_on_the_newest_training_file(stack, launches):
    storage.put_bytes("train/old.csv", b"a,target\n1,0\n")
    storage.put_bytes("train/crypto/other.csv", b"a,target\n1,0\n")
    time.sleep(1.1)  # S3's LastModified has one-second resolution
    storage.put_bytes("train/new.csv", b"a,target\n1,0\n")
    result = handler("train_trigger")(load_event("schedule_weekly_retrain.json"), CONTEXT)
    assert (result["key"], result["duplicate"]) == ("train/new.csv", False)
    assert launches == [("train", "train/new.csv")]
    again = handler("train_trigger")(load_event("schedule_weekly_retrain.json"), CONTEXT)
    assert again["duplicate"] is True
    assert len(launches) == 1


def test_daily_scoring_without_a_test_file_is_announced_not_raised(stack, launches):
    result = handler("batch_predict")(load_event("schedule_daily_scoring.json"), CONTEXT)
    assert result["task"] is None
    assert "has no test file" in result["error"]
    [note] = stack.announcements()
    assert (note["step"], note["outcome"]) == ("score", "failed")


# ── model_published ───────────────────────────────────────────────────────────


def _write_version(project: str = "default") -> Manifest:
    return write_opaque_version(project, b"model bytes")


def _manifest_event(project: str, version: int) -> dict:
    event = load_event("sqs_s3_put_manifest.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = keys.manifest_key(project, version).replace("/", "%2F")
    event["Records"][0]["body"] = json.dumps(body)
    return event


def test_manifest_event_publishes_the_version(stack):
    _write_version()
    assert handler("model_published")(load_event("sqs_s3_put_manifest.json"), CONTEXT) == {"batchItemFailures": []}
    assert registry.live_version("default").version == 1
    [note] = stack.announcements()
    assert (note["step"], note["outcome"], note["version"], note["champion"]) == ("publish", "succeeded", 1, "m")


def test_checksum_mismatch_is_rejected_announced_and_live_version_stays(stack):
    _write_version()
    handler("model_published")(_manifest_event("default", 1), CONTEXT)
    second = _write_version()
    storage.put_bytes(second.artifacts["m"].key, b"tampered")
    stack.announcements()
    response = handler("model_published")(_manifest_event("default", 2), CONTEXT)
    assert response == {"batchItemFailures": []}  # permanent: announced, not retried
    assert registry.live_version("default").version == 1
    [note] = stack.announcements()
    assert (note["step"], note["outcome"], note["error_type"]) == ("publish", "failed", "ChecksumMismatch")


def test_bad_manifest_is_rejected_and_live_version_stays(stack):
    _write_version()
    handler("model_published")(_manifest_event("default", 1), CONTEXT)
    storage.put_json(keys.manifest_key("default", 2), {"project": "default", "version": 2})
    stack.announcements()
    assert handler("model_published")(_manifest_event("default", 2), CONTEXT) == {"batchItemFailures": []}
    assert registry.live_version("default").version == 1
    [note] = stack.announcements()
    assert (note["outcome"], note["error_type"]) == ("failed", "BadInput")
    assert "models/default/v2/manifest.json" in note["error"]


def test_duplicate_manifest_event_publishes_once(stack):
    _write_version()
    handler("model_published")(load_event("sqs_s3_put_manifest.json"), CONTEXT)
    handler("model_published")(load_event("sqs_s3_put_manifest.json"), CONTEXT)
    assert [e.model_version for e in registry.history("default")] == [1]  # the publisher made the parameter
    assert [n["outcome"] for n in stack.announcements()] == ["succeeded"]
