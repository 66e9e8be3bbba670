"""`dropml --stack NAME` (or DROPML_STACK) works on the deployed stack: its bucket, topic, cluster and task."""

from __future__ import annotations

import json

from cli_runner import run_cli

from dropml.aws import client as aws_client
from dropml.config import load_settings
from tests.conftest import EXAMPLES

STACK = "dropml-prod"
BUCKET = "dropml-prod-123456789012-us-east-1"


def _deployed_stack() -> dict[str, str]:
    """A stack on the stand-in whose outputs are a deployed dropml's (its own bucket, not config.json's)."""
    aws_client("s3").create_bucket(Bucket=BUCKET)
    aws_client("ecs").create_cluster(clusterName=STACK)
    outputs = {
        "StackName": STACK,
        "Region": "us-east-1",
        "BucketName": BUCKET,
        "EventsTopicArn": aws_client("sns").create_topic(Name=f"{STACK}-events")["TopicArn"],
        "ClusterName": STACK,
        "TrainingTaskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{STACK}-training:1",
        "TrainingContainerName": "train",
        "TaskSubnetIds": "subnet-1,subnet-2",
        "TaskSecurityGroupIds": "sg-1",
        "TaskAssignPublicIp": "false",
        "WebAppRoleArn": "arn:aws:iam::123456789012:role/x",
        "WebCodeBucketName": "dropml-deploy-123456789012-us-east-1",
    }
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    return outputs


def test_train_with_stack_uploads_to_the_stacks_bucket_not_config_jsons(aws, tmp_path):
    _deployed_stack()
    result = run_cli(aws.endpoint, "--stack", STACK, "train", "default", "--file", str(EXAMPLES / "breast_cancer.csv"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uploaded" in result.stdout
    stack_keys = [o["Key"] for o in aws_client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert stack_keys == ["train/breast_cancer.csv"]
    config_bucket = load_settings().storage.bucket
    assert "Contents" not in aws_client("s3").list_objects_v2(Bucket=config_bucket, Prefix="train/")


def test_dropml_stack_from_the_environment_as_sam_reads_samconfig(aws, monkeypatch):
    _deployed_stack()
    aws_client("sqs").create_queue(QueueName=f"{STACK}-TrainingQueue-ABCDEFGH1234")
    monkeypatch.setenv("DROPML_STACK", STACK)
    shown = run_cli(aws.endpoint, "status")
    assert shown.returncode == 0, shown.stderr
    assert "TrainingQueue" in shown.stdout  # the stack's queues, found by its name


def test_a_stack_that_does_not_exist_is_named(aws):
    result = run_cli(aws.endpoint, "--stack", "no-such-stack", "status")
    assert result.returncode == 2
    assert "stack 'no-such-stack'" in result.stderr
