"""The offline IAM check reads recorded requests as AWS would authorize them and denies what the policies do not
grant: conditions (s3:prefix, ecs:cluster), resources, and a KMS key whose policy does not delegate to IAM."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dropml.aws import Credentials
from dropml.local import iam_check, roles, world

STACK, REGION, KEY = "dropml", "us-east-1", "AKIATRIGGERLOCAL0001"


@pytest.fixture(scope="module")
def stack() -> tuple[dict, dict[str, str], dict[str, roles.ComponentRole]]:
    transformed = roles.sam_transform(region=REGION)
    queues = {
        spec.logical_id: world.Queue(
            spec.logical_id,
            f"http://h/123456789012/dropml-{spec.logical_id}",
            f"arn:aws:sqs:us-east-1:123456789012:dropml-{spec.logical_id}",
        )
        for spec in world.queue_specs(world.load_template())
    }
    topic = "arn:aws:sns:us-east-1:123456789012:dropml-events"
    built = world.World(bucket="dropml-data", queues=queues, topic_arn=topic, cluster="dropml")
    names = roles.stack_names(transformed, built, STACK, REGION)
    documents, arns = roles.role_documents(transformed, "TrainTriggerFunctionRole", names)
    managed = roles.managed_policies(transformed, names)
    documents.update({arn: managed[arn] for arn in arns if arn in managed})
    trigger = roles.ComponentRole("TrainTriggerFunction", "TrainTriggerFunctionRole", "dropml-TrainTriggerFunctionRole",
                                  documents, Credentials(KEY, "secret", "token"))  # fmt: skip
    return transformed, names, {"TrainTriggerFunction": trigger}


def _entry(method: str, url: str, service: str, body: bytes = b"", target: str | None = None) -> str:
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20261202/{REGION}/{service}/aws4_request, X"}
    if target:
        headers["X-Amz-Target"] = target
    encoded = base64.b64encode(body).decode()
    return json.dumps({"method": method, "url": url, "headers": headers, "body": encoded, "body_encoded": True})


def test_conditions_resources_and_key_policies_decide(stack, tmp_path: Path):
    transformed, names, components = stack
    run_task = {"cluster": "dropml", "taskDefinition": "dropml-training"}
    other_cluster = {"cluster": "someone-elses", "taskDefinition": "dropml-training"}
    recording = tmp_path / "calls.jsonl"
    recording.write_text(
        "\n".join(
            [
                _entry("GET", "http://h/dropml-data?list-type=2&prefix=train%2F", "s3"),
                _entry(
                    "GET", "http://h/dropml-data?list-type=2&prefix=models%2F", "s3"
                ),  # the condition allows train/ only
                _entry("GET", "http://h/dropml-data/train/glass/x.csv", "s3"),
                _entry("PUT", "http://h/dropml-data/models/glass/v9/m.pkl", "s3"),  # no write outside its prefixes
                _entry(
                    "POST",
                    "http://h/",
                    "ecs",
                    json.dumps(run_task).encode(),
                    "AmazonEC2ContainerServiceV20141113.RunTask",
                ),
                _entry(
                    "POST",
                    "http://h/",
                    "ecs",
                    json.dumps(other_cluster).encode(),
                    "AmazonEC2ContainerServiceV20141113.RunTask",
                ),
                _entry(
                    "POST", "http://h/", "sns", f"Action=Publish&TopicArn={names['EventsTopic']}&Message=m".encode()
                ),
                _entry("POST", "http://h/", "ssm", b'{"Name": "/dropml/live/glass"}', "AmazonSSM.PutParameter"),
            ]
        )
        + "\n"
    )

    checked = iam_check.check_recording(recording, components, names, transformed)
    verdicts = {
        (r.action, r.resource.removeprefix("arn:aws:s3:::"), dict(r.context).get("s3:prefix")): r not in checked.denied
        for r in checked.requests
    }
    assert verdicts[("s3:ListBucket", "dropml-data", "train/")]
    assert not verdicts[("s3:ListBucket", "dropml-data", "models/")]
    assert verdicts[("s3:GetObject", "dropml-data/train/glass/x.csv", None)]
    assert not verdicts[("s3:PutObject", "dropml-data/models/glass/v9/m.pkl", None)]
    run = {dict(r.context)["ecs:cluster"].rsplit("/", 1)[-1]: r not in checked.denied
           for r in checked.requests if r.action == "ecs:RunTask"}  # fmt: skip
    assert run == {"dropml": True, "someone-elses": False}
    assert all(r not in checked.denied for r in checked.requests if r.action.startswith(("sns:", "kms:", "iam:")))
    assert [r.action for r in checked.denied if r.action.startswith("ssm:")] == ["ssm:PutParameter"]
    assert checked.unknown == []
    assert "denied: 4" in checked.report


def test_a_key_policy_that_does_not_delegate_to_iam_denies_the_publisher(stack, tmp_path: Path):
    transformed, names, components = stack
    recording = tmp_path / "calls.jsonl"
    recording.write_text(_entry("POST", "http://h/", "sns", f"Action=Publish&TopicArn={names['EventsTopic']}".encode()))
    strict = json.loads(json.dumps(transformed))
    strict["Resources"]["EventsTopicKey"]["Properties"]["KeyPolicy"]["Statement"] = [
        s
        for s in strict["Resources"]["EventsTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s["Sid"] != "AccountAdministersTheKeyThroughIam"
    ]
    checked = iam_check.check_recording(recording, components, names, strict)
    assert sorted(r.action for r in checked.denied) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_a_call_the_check_cannot_read_is_reported_not_dropped(stack, tmp_path: Path):
    transformed, names, components = stack
    recording = tmp_path / "calls.jsonl"
    recording.write_text(_entry("PUT", "http://h/dropml-data?notification", "s3"))
    checked = iam_check.check_recording(recording, components, names, transformed)
    assert checked.unknown == ["TrainTriggerFunction: PUT http://h/dropml-data?notification "]
