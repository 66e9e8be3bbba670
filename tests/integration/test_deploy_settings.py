"""The web app's Zappa stage comes from the deployed stack's outputs (one command), with the stack's own role."""

from __future__ import annotations

import json
import shutil

from cli_runner import run_cli

from dropml.aws import client as aws_client
from dropml.config import load_settings, reset_settings_cache
from dropml.jobs import launcher
from dropml.local import jobs, world
from dropml.usecases import deploy
from tests.conftest import ROOT

KEY = "admin-key-for-the-deploy-test"


def _stack_with_outputs(outputs: dict[str, str], name: str = "dropml-prod") -> str:
    """A CloudFormation stack on the stand-in whose outputs are ``outputs`` (what describe-stacks then shows)."""
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    aws_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def _ecs_outputs() -> dict[str, str]:
    """Outputs naming a real cluster, task definition, subnet and security group on the stand-in."""
    ecs = aws_client("ecs")
    ec2 = aws_client("ec2")
    ecs.create_cluster(clusterName="dropml-prod")
    family = ecs.register_task_definition(
        family="dropml-prod-training",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "train", "image": "training:latest", "memory": 2048}],
    )["taskDefinition"]["taskDefinitionArn"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    return {
        "StackName": "dropml-prod",
        "Region": "us-east-1",
        "BucketName": load_settings().storage.bucket,
        "EventsTopicArn": load_settings().notifications.topic_arn or "",
        "ClusterName": "dropml-prod",
        "TrainingTaskDefinitionArn": family,
        "TrainingContainerName": "train",
        "TaskSubnetIds": subnet,
        "TaskSecurityGroupIds": f"{group},sg-0dask",
        "TaskAssignPublicIp": "false",
        "WebAppRoleArn": "arn:aws:iam::123456789012:role/dropml-prod-WebAppRole-ABC",
        "WebCodeBucketName": "dropml-prod-web-code",
        "DaskSchedulerAddress": "tcp://scheduler.dropml-prod.dropml.local:8786",
    }


def test_every_output_the_command_reads_is_one_the_template_declares():
    outputs = world.load_template()["Outputs"]
    assert set(deploy.REQUIRED_OUTPUTS) <= set(outputs)
    assert set(deploy.OPTIONAL_OUTPUTS) <= set(outputs)
    assert outputs["WebAppRoleArn"]["Value"] == {"Fn::GetAtt": ["WebAppRole", "Arn"]}


def test_the_committed_stage_has_no_hand_copied_stack_values_and_no_zappa_managed_role():
    stage = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
    assert stage["manage_roles"] is False  # Zappa's own role has s3:*, sns:* ... and no ssm:
    hand_copied = {"DROPML__STACK_NAME", "DROPML__STORAGE__BUCKET", "DROPML__DASK__SCHEDULER_ADDRESS"}
    assert not hand_copied & set(stage["environment_variables"])
    assert not any(name.startswith("DROPML__LAUNCHER__") for name in stage["environment_variables"])


def test_zappa_settings_command_fills_the_stage_from_the_stacks_outputs(aws, tmp_path):
    outputs = _ecs_outputs()
    stack = _stack_with_outputs(outputs)
    settings_file = tmp_path / "zappa_settings.json"
    shutil.copy(ROOT / "zappa_settings.json", settings_file)

    result = run_cli(aws.endpoint, "deploy", "zappa-settings", "--stack", stack, "--file", str(settings_file))

    assert result.returncode == 0, result.stdout + result.stderr
    committed = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
    stage = json.loads(settings_file.read_text())["dev"]
    assert stage["role_arn"] == outputs["WebAppRoleArn"]
    assert stage["manage_roles"] is False
    assert stage["s3_bucket"] == "dropml-prod-web-code"
    assert stage["touch"] is False  # dropml deploy's smoke request checks the answer; Zappa's touch only warns
    # the stack's values go to the function's Lambda configuration, not into the package: one build, any stack
    assert stage["environment_variables"] == {
        k: v for k, v in committed["environment_variables"].items() if k != "DROPML__SERVING__MAX_BODY_BYTES"
    }
    env = stage["aws_environment_variables"]
    assert env["DROPML__STORAGE__BUCKET"] == outputs["BucketName"]
    assert env["DROPML__STACK_NAME"] == "dropml-prod"
    assert env["DROPML__NOTIFICATIONS__TOPIC_ARN"] == outputs["EventsTopicArn"]
    assert env["DROPML__LAUNCHER__KIND"] == "ecs"
    assert env["DROPML__LAUNCHER__TASK_DEFINITION"] == outputs["TrainingTaskDefinitionArn"]
    assert json.loads(env["DROPML__LAUNCHER__SECURITY_GROUPS"])[1] == "sg-0dask"
    assert env["DROPML__SERVING__MAX_ANSWER_BYTES"] == str(deploy.LAMBDA_MAX_ANSWER_BYTES)
    # the function runs outside the VPC, and the scheduler admits only its security group: no Dask address (C1)
    assert "DROPML__DASK__SCHEDULER_ADDRESS" not in env
    assert {k: v for k, v in stage.items() if k not in FILLED} == {
        k: v for k, v in committed.items() if k not in FILLED
    }


FILLED = {
    "role_arn",
    "manage_roles",
    "s3_bucket",
    "aws_region",
    "environment_variables",
    "aws_environment_variables",
    "touch",
}


def test_zappa_settings_refuses_a_stack_without_a_code_bucket(aws, tmp_path):
    """An empty WebCodeBucket left the placeholder bucket in place, which S3 refuses (B2): now it is an error."""
    outputs = {**_ecs_outputs(), "WebCodeBucketName": ""}
    stack = _stack_with_outputs(outputs, name="dropml-nocode")
    settings_file = tmp_path / "zappa_settings.json"
    shutil.copy(ROOT / "zappa_settings.json", settings_file)

    result = run_cli(aws.endpoint, "deploy", "zappa-settings", "--stack", stack, "--file", str(settings_file))

    assert result.returncode == 2
    assert "no code bucket" in result.stderr
    assert "make deploy" in result.stderr
    assert settings_file.read_text() == (ROOT / "zappa_settings.json").read_text()


def test_zappa_settings_command_names_a_missing_stack(aws, tmp_path):
    settings_file = tmp_path / "zappa_settings.json"
    shutil.copy(ROOT / "zappa_settings.json", settings_file)
    result = run_cli(aws.endpoint, "deploy", "zappa-settings", "--stack", "no-such-stack", "--file", str(settings_file))
    assert result.returncode == 2
    assert "stack 'no-such-stack'" in result.stderr
    assert json.loads(settings_file.read_text()) == json.loads((ROOT / "zappa_settings.json").read_text())


def test_an_admin_retrain_from_the_web_app_as_deployed_starts_an_ecs_task(aws, monkeypatch):
    """The web app with the environment the command writes, in a process without a local launcher (a Lambda)."""
    from web import create_app

    jobs.unregister()  # a Lambda has no local launcher
    outputs = _ecs_outputs()
    for name, value in deploy.web_environment(outputs).items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()  # the launcher reads the process's settings, as on Lambda
    conf = load_settings()
    aws_client("s3").put_object(Bucket=conf.storage.bucket, Key="train/glass/glass.csv", Body=b"a,target\n1,x\n")
    before = list(jobs.local_jobs())
    client = create_app(conf.model_copy(update={"admin_api_key": KEY})).test_client()

    answer = client.post("/api/v1/admin/projects/glass/retrain", json={}, headers={"X-API-Key": KEY})

    assert answer.status_code == 202, answer.json
    ecs = aws_client("ecs")
    task_arns = ecs.list_tasks(cluster="dropml-prod")["taskArns"]
    assert len(task_arns) == 1
    task = ecs.describe_tasks(cluster="dropml-prod", tasks=task_arns)["tasks"][0]
    assert task["taskDefinitionArn"] == outputs["TrainingTaskDefinitionArn"]
    assert task["group"] == launcher.JOB_TASK_GROUP  # the group JobDiedRule watches
    assert list(jobs.local_jobs()) == before  # no local process


def test_the_app_as_the_zappa_stage_configures_it_refuses_a_body_lambda_cannot_carry(aws, monkeypatch):
    """API Gateway + Lambda carry ~4.4 MB raw with binary support: the app says 413 and names the limit."""
    from web import create_app

    stage = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
    for name, value in stage["environment_variables"].items():
        monkeypatch.setenv(name, value)
    client = create_app(load_settings()).test_client()
    body = b"x\n" + b"1\n" * 2_250_000  # 4.5 MB

    answer = client.post("/api/v1/predict", data=body, content_type="text/csv")

    assert answer.status_code == 413
    assert answer.json["error"] == "too_large"
    assert f"serving.max_body_bytes ({deploy.API_GATEWAY_MAX_BODY_BYTES})" in answer.json["message"]
