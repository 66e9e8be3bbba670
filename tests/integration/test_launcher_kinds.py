"""launcher.kind 'local' starts a process only inside the local world: anywhere else it fails loudly, naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dropml import notify, storage
from dropml.aws import client as aws_client
from dropml.config import load_settings
from dropml.jobs import launcher
from dropml.local import jobs
from tests.conftest import EVENTS, ROOT

KEY = "admin-key-for-the-launcher-test"
REFUSAL = "launcher.kind is 'local' (config.json or DROPML__LAUNCHER__KIND), but this process has no 'local' launcher"


def test_a_process_outside_the_local_world_refuses_to_launch_locally(aws):
    jobs.unregister()  # as in any process that did not start or join the local world
    before = jobs.local_jobs()
    with pytest.raises(launcher.LaunchFailed, match=r"launcher\.kind is 'local'") as caught:
        launcher.launch("train", "train/glass/glass.csv")
    assert str(caught.value).startswith(REFUSAL)
    assert "in the cloud launcher.kind must be 'ecs'" in str(caught.value)
    assert jobs.local_jobs() == before  # nothing started


def test_the_installed_local_launcher_is_found_by_kind(aws, monkeypatch):
    monkeypatch.delitem(launcher._starters, "local")
    assert launcher.register_installed("local") is True
    assert launcher._starters["local"] is jobs.start_process
    assert launcher.register_installed("no-such-kind") is False


def test_the_web_app_outside_the_local_world_answers_an_error_not_202(aws):
    from web import create_app

    jobs.unregister()
    storage.put_bytes("train/glass/glass.csv", b"a,target\n1,x\n2,y\n")
    client = create_app(load_settings().model_copy(update={"admin_api_key": KEY})).test_client()
    answer = client.post("/api/v1/admin/projects/glass/retrain", json={}, headers={"X-API-Key": KEY})
    assert answer.status_code == 500
    assert answer.json["error"] == "launch_failed"
    assert answer.json["message"].startswith(REFUSAL)


def test_a_lambda_configured_local_fails_the_message_and_never_imports_the_local_world(aws):
    """train_trigger run as Lambda runs it (its folder on sys.path, a fresh interpreter), with launcher.kind local."""
    sqs = aws_client("sqs")
    inbox = sqs.create_queue(QueueName="sns-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=notify.topic_arn(), Protocol="sqs", Endpoint=inbox_arn)
    event = json.loads((EVENTS / "sqs_s3_put_train.json").read_text())
    script = (
        "import json, sys, types\n"
        f"sys.path.insert(0, {str(ROOT / 'functions' / 'train_trigger')!r})\n"
        "import app\n"
        "context = types.SimpleNamespace(function_name='train_trigger', aws_request_id='r-1',"
        " get_remaining_time_in_millis=lambda: 60000)\n"
        "response = app.lambda_handler(json.loads(sys.stdin.read()), context)\n"
        "print(json.dumps({'response': response, 'local_imported': 'dropml.local' in sys.modules}))\n"
    )
    env = {**os.environ, "DROPML__LAUNCHER__KIND": "local"}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "functions" / "train_trigger",
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result == {
        "response": {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]},
        "local_imported": False,
    }
    [message] = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    note = json.loads(json.loads(message["Body"])["Message"])
    assert (note["step"], note["outcome"], note["error_type"]) == ("train", "failed", "LaunchFailed")
    assert note["error"].startswith(REFUSAL)
