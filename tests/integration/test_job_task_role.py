"""The training job's AWS calls stay inside TrainingTaskRole: the job runs with that role's credentials on a
moto server that enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT), with the role's policies taken from template.yaml.

moto evaluates actions and resources, not conditions (TOOLCHAIN.md): this proves the job asks only for
actions on resources the role grants; it does not prove the ListBucket prefix conditions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from fakes import FAST_TRAINING

from dropml.local import roles, world
from dropml.local.moto_server import start_moto
from tests.conftest import ROOT

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
STACK = "dropml"
BUCKET = "dropml-iam-test"


@pytest.fixture(scope="module")
def enforcing() -> Iterator[SimpleNamespace]:
    """A moto server with authentication on, and the deployer made in its first unauthenticated calls."""
    server = start_moto(in_process=False, enforce_iam=True)
    try:
        key = roles.create_deployer(server.endpoint, REGION)
        admin = boto3.session.Session(key.access_key_id, key.secret_access_key, region_name=REGION)
        yield SimpleNamespace(endpoint=server.endpoint, admin=admin)
    finally:
        server.stop()


def _stand_up(enforcing: SimpleNamespace) -> dict[str, str]:
    """The bucket, topic and training CSV the job needs, made by the admin; returns the template's names."""
    s3 = enforcing.admin.client("s3", endpoint_url=enforcing.endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(
        Bucket=BUCKET, Key="train/diabetes/diabetes.csv", Body=(ROOT / "examples" / "diabetes.csv").read_bytes()
    )
    topic = enforcing.admin.client("sns", endpoint_url=enforcing.endpoint).create_topic(Name=f"{STACK}-events")
    return {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK,
        "DataBucket": BUCKET,
        "DataBucket.Arn": f"arn:aws:s3:::{BUCKET}",
        "EventsTopic": topic["TopicArn"],
        "EventsTopicKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/events-topic-key",
    }


def _role_credentials(enforcing: SimpleNamespace, names: dict[str, str], drop_sid: str | None = None) -> dict[str, str]:
    """Create TrainingTaskRole as template.yaml defines it (optionally without one statement) and assume it."""
    resources = world.load_template()["Resources"]
    role = resources["TrainingTaskRole"]["Properties"]
    iam = enforcing.admin.client("iam", endpoint_url=enforcing.endpoint)
    name = f"TrainingTaskRole-{drop_sid or 'as-defined'}"
    # ECS (ecs-tasks.amazonaws.com) assumes the task role on AWS; here the admin assumes it in ECS's place
    # (moto's trust-policy check fails on service principals), so the trust names that user instead
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    launcher = {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{roles.DEPLOYER}"}
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": launcher, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    for policy in role["Policies"]:
        document = roles.resolve(policy["PolicyDocument"], names)
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != drop_sid]
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
    assert role["ManagedPolicyArns"] == [{"Ref": "PublishEventsPolicy"}]
    publish = roles.resolve(resources["PublishEventsPolicy"]["Properties"]["PolicyDocument"], names)
    arn = iam.create_policy(PolicyName=f"{name}-publish", PolicyDocument=json.dumps(publish))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    sts = enforcing.admin.client("sts", endpoint_url=enforcing.endpoint)
    found = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="job")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }


def _run_job(
    enforcing: SimpleNamespace, names: dict[str, str], credentials: dict[str, str]
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DROPML__"))}
    env.update(
        credentials,
        AWS_ENDPOINT_URL=enforcing.endpoint,
        AWS_DEFAULT_REGION=REGION,
        DROPML__STACK_NAME=STACK,
        DROPML__STORAGE__BUCKET=BUCKET,
        DROPML__STORAGE__RETRY_MAX_ATTEMPTS="1",
        DROPML__NOTIFICATIONS__TOPIC_ARN=names["EventsTopic"],
    )
    command = [sys.executable, "-m", "training_job.main", "train", "--key", "train/diabetes/diabetes.csv"]
    return subprocess.run(
        [*command, "--overrides", json.dumps(FAST_TRAINING)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_the_job_trains_and_publishes_with_only_its_task_roles_permissions(enforcing):
    names = _stand_up(enforcing)
    s3 = enforcing.admin.client("s3", endpoint_url=enforcing.endpoint)
    refused = boto3.session.Session("testing", "testing", region_name=REGION).client(
        "s3", endpoint_url=enforcing.endpoint
    )
    with pytest.raises(Exception, match="InvalidAccessKeyId|AccessDenied|403"):  # enforcement is on
        refused.list_objects_v2(Bucket=BUCKET)

    done = _run_job(enforcing, names, _role_credentials(enforcing, names))

    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout)["manifest"] == "models/diabetes/v1/manifest.json"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="models/diabetes/v1/manifest.json")["Body"].read())
    assert manifest["version"] == 1

    # the same job under the role without its write statement: refused, nothing published (enforcement bites)
    denied = _run_job(enforcing, names, _role_credentials(enforcing, names, drop_sid="WriteOutputs"))
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr + denied.stdout
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="models/diabetes/v2/").get("KeyCount", 0)
    assert listed == 0


def test_resolve_replaces_every_intrinsic_of_the_role():
    names = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
             "DataBucket.Arn": "arn:aws:s3:::b", "EventsTopic": "t", "EventsTopicKey.Arn": "k"}  # fmt: skip
    role = world.load_template()["Resources"]["TrainingTaskRole"]["Properties"]
    text = json.dumps(roles.resolve(role["Policies"], names))
    assert "Fn::" not in text
    assert '"Ref"' not in text
    assert "arn:aws:s3:::b/models/*" in text
