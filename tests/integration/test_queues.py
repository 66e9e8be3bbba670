"""The stack's queues are found as CloudFormation names them, without template.yaml: status and redrive."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli

from dropml import queues
from dropml.aws import client as aws_client


def _queue(name: str, dead_letter_arn: str | None = None) -> tuple[str, str]:
    sqs = aws_client("sqs")
    attributes = {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": 3})}
    url = sqs.create_queue(QueueName=name, Attributes=attributes if dead_letter_arn else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


@pytest.fixture
def deployed_names(aws):
    """Queues named as a CloudFormation stack 'dropml' names them, and queues that are not the stack's."""
    dlq_url, dlq_arn = _queue("dropml-TrainingDeadLetterQueue-1VF9BKQH5BJVI")
    training_url, _ = _queue("dropml-TrainingQueue-Q2W3E4R5T6Y7", dead_letter_arn=dlq_arn)
    _, other_dlq_arn = _queue("dropml-dev-TrainingDeadLetterQueue-AAAABBBBCCCC")  # another stack's
    _queue("dropml-dev-TrainingQueue-DDDDEEEEFFFF", dead_letter_arn=other_dlq_arn)
    _queue("sns-inbox")
    return {"dlq": dlq_url, "training": training_url}


def test_the_stacks_queues_and_their_dead_letter_queues_come_from_sqs_alone(deployed_names):
    found = {q.logical_id: q for q in queues.stack_queues()}
    assert sorted(found) == ["TrainingDeadLetterQueue", "TrainingQueue"]
    assert found["TrainingDeadLetterQueue"].dead_letter_of == "TrainingQueue"
    assert found["TrainingQueue"].dead_letter_of is None
    assert found["TrainingQueue"].url == deployed_names["training"]


def test_redrive_and_status_work_on_deployed_names(aws, deployed_names):
    sqs = aws_client("sqs")
    sqs.send_message(QueueUrl=deployed_names["dlq"], MessageBody='{"poison": true}')
    shown = run_cli(aws.endpoint, "status")
    assert shown.returncode == 0, shown.stderr
    assert "TrainingDeadLetterQueue" in shown.stdout
    assert "<- dead letters of TrainingQueue" in shown.stdout
    assert "dev-" not in shown.stdout
    redriven = run_cli(aws.endpoint, "redrive")
    assert redriven.returncode == 0, redriven.stderr
    assert redriven.stdout.strip() == "TrainingDeadLetterQueue: 1 message(s) re-driven"
    received = sqs.receive_message(QueueUrl=deployed_names["training"], WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in received] == ['{"poison": true}']


@pytest.mark.parametrize(
    ("name", "logical_id"),
    [
        ("dropml-TrainingQueue", "TrainingQueue"),  # the local world's name
        ("dropml-TrainingQueue-1VF9BKQH5BJVI", "TrainingQueue"),  # CloudFormation's
        ("dropml-dev-TrainingQueue-1VF9BKQH5BJVI", None),  # stack dropml-dev's
        ("dropml-dev-TrainingQueue", None),
        ("TrainingQueue", None),
        ("demo-announcements", None),
    ],
)
def test_logical_id_of_a_queue_name(name, logical_id):
    assert queues.logical_id_of(name, "dropml") == logical_id
