"""`make deploy`'s path rehearsed on the stand-in as a fresh account (`pytest -k rehearsal`; dropml/local/rehearsal.py).

One rehearsal per module: moto enforcing IAM, the real sam build/package, the template created through the
stand-in's CloudFormation, Zappa's real package and deploy, then every access AWS's services need checked with
the IAM simulator and the fresh account's rules. It writes .dropml/deploy-report.md. The defects the review
found come back one at a time on the running stand-in, and each makes the rehearsal fail where AWS would.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from botocore.exceptions import ClientError
from samtranslator.yaml_helper import yaml_parse

from dropml import aws
from dropml import aws_names as names
from dropml.errors import BadInput
from dropml.local import fresh_account, rehearsal, standin_stack
from dropml.usecases import deploy_path as path
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a clean clone builds the web runtime venv first
NOT_RUN_HERE = {"training image (linux/amd64)", "smoke request"}  # no Docker: no image, no Lambda invocation


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    with rehearsal.standing(workdir=tmp_path_factory.mktemp("rehearsal"), say=lambda _line: None) as live:
        yield live


def test_rehearsal_runs_every_step_of_make_deploy(rehearsed):
    result = rehearsed.result
    assert result.failure is None, result.failure
    outcomes = {o.step: o for o in result.deployment.outcomes}
    assert list(outcomes) == [title for title, _ in path.STEPS]
    assert {step for step, o in outcomes.items() if o.status == "not run here"} == NOT_RUN_HERE
    assert "--platform linux/amd64" in outcomes["training image (linux/amd64)"].detail
    assert "needs Docker in moto" in outcomes["smoke request"].detail
    commands = " ".join(c for o in result.deployment.outcomes for c in o.commands)
    for real in ("sam build", "sam package", " package dev -o ", " deploy dev -z s3://"):
        assert real in commands, real
    assert result.deployment.api_url.startswith("https://")
    assert result.problems == [], result.problems


def test_rehearsal_creates_the_template_through_cloudformation_and_says_what_the_world_made(rehearsed):
    result = rehearsed.result
    created = {r["type"] for r in result.created}
    assert {"AWS::S3::Bucket", "AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::IAM::Role"} <= created
    made = {m.resource_type for m in result.made if m.what.startswith("made")}
    assert {"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::Scheduler::Schedule"} <= made
    assert "AWS::S3::Bucket NotificationConfiguration" in made
    stack = aws.client("cloudformation").describe_stacks(StackName=rehearsal.STACK)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["WebCodeBucketName"] == result.deployment.deploy_bucket  # Zappa's bucket comes from the stack


def test_rehearsal_checks_what_each_aws_service_does_for_the_stack(rehearsed):
    decisions = rehearsed.result.decisions
    callers = {(d.access.caller.split(" ")[-1].rstrip(")"), d.access.action) for d in decisions}
    for expected in [
        ("apigateway.amazonaws.com", "sts:AssumeRole"),  # Zappa's integration credentials
        ("apigateway.amazonaws.com", "lambda:InvokeFunction"),
        ("events.amazonaws.com", "sns:Publish"),  # JobDiedRule, to the encrypted topic
        ("events.amazonaws.com", "kms:GenerateDataKey"),
        ("scheduler.amazonaws.com", "sts:AssumeRole"),
        ("ecs-tasks.amazonaws.com", "ecr:BatchGetImage"),
        ("ecs-tasks.amazonaws.com", "logs:PutLogEvents"),
        ("lambda.amazonaws.com", "sqs:ReceiveMessage"),  # the event source mappings
        ("s3.amazonaws.com", "sqs:SendMessage"),
        ("cloudwatch.amazonaws.com", "sns:Publish"),
    ]:
        assert expected in callers, expected
    keep_warm = json.loads((ROOT / "zappa_settings.json").read_text())["dev"].get("keep_warm", True)
    assert (("events.amazonaws.com", "lambda:InvokeFunction") in callers) == keep_warm  # its rule, if it has one
    denied = [d for d in decisions if not d.allowed]
    assert denied == [], [(d.access.caller, d.access.action, d.access.resource) for d in denied]
    assert all(d.allowed_by for d in decisions)  # every decision names the statement that allowed it


def test_rehearsal_applies_a_fresh_accounts_rules(rehearsed):
    rules = {r.rule: r for r in rehearsed.result.rules}
    assert len(rules) >= 10
    assert [r.rule for r in rules.values() if not r.met] == []
    concurrency = next(r for rule, r in rules.items() if rule.startswith("Lambda concurrency"))
    assert concurrency.detail == "reserved: none"
    operated = next(r for rule, r in rules.items() if rule.startswith("dropml --stack"))
    assert "s3://dropml-123456789012-us-east-1/train/breast_cancer.csv: there" in operated.detail  # B3


def test_rehearsal_checks_every_call_the_deploy_made(rehearsed):
    calls = {action: (count, verdict) for action, count, verdict, _ in rehearsed.result.deploy_calls}
    for action in (
        "iam:CreateServiceLinkedRole",
        "ecr:CreateRepository",
        "s3:CreateBucket",
        "cloudformation:CreateStack",
        "lambda:CreateFunction",
        "apigateway:POST",
    ):
        assert action in calls, action
    assert {verdict for _, verdict in calls.values()} == {"Allowed"}


def test_rehearsal_report_has_the_summary_steps_decisions_and_rules(rehearsed):
    report = (ROOT / ".dropml" / "deploy-report.md").read_text()
    for heading in (
        "## Summary",
        "## Steps",
        "## What CloudFormation created",
        "## What the world made instead",
        "## IAM decisions: what AWS's services do for the stack",
        "## IAM decisions: the deploy's own calls",
        "## Fresh-account rules",
        "## What the rehearsal cannot cover",
    ):
        assert heading in report, heading
    assert "| verdict | **PASS** |" in report


def _built_template(live: rehearsal.Live) -> dict:
    return yaml_parse((live.request.workdir / "sam-build" / "template.yaml").read_text())


def _sam_deploy(live: rehearsal.Live, template: dict, stack: str, **parameters: str) -> None:
    """The rehearsal's `sam deploy` step (sam package, the SAM transform, create_stack) for another stack."""
    built = live.request.workdir / "sam-build" / f"{stack}.yaml"  # beside sam build's: its code paths are relative
    built.write_text(json.dumps(template))
    baseline = {k: v for k, v in live.machine.parameters.items() if k != "WebFunctionName"}
    deploy = path.SamDeploy(
        template=built,
        stack=stack,
        region=rehearsal.REGION,
        bucket=live.result.deployment.deploy_bucket,
        prefix=f"{stack}/sam",
        parameters={**baseline, "WebFunctionName": f"{stack}-dev", **parameters},
    )
    rehearsal.StandIn(live.request.root, live.request.workdir, fresh_account.FreshAccount()).sam_deploy(deploy)


def test_rehearsal_fails_if_a_function_reserves_concurrency_again(rehearsed):
    """A1: ReservedConcurrentExecutions on one function; a quota of 10 keeps 100 unreserved, so the create fails."""
    template = copy.deepcopy(_built_template(rehearsed))
    template["Resources"]["TrainTriggerFunction"]["Properties"]["ReservedConcurrentExecutions"] = 10
    with pytest.raises(path.DeployFailed, match=r"ReservedConcurrentExecutions .* below its minimum value of \[100\]"):
        _sam_deploy(rehearsed, template, "dropml-a1")
    with pytest.raises(ClientError, match="does not exist"):
        aws.client("cloudformation").describe_stacks(StackName="dropml-a1")
    assert fresh_account.FreshAccount(lambda_concurrency=1000).reservable() == 900  # a raised quota would take it


def test_rehearsal_fails_if_the_ecs_service_linked_role_is_not_made_first(rehearsed):
    """A3: a new account has no AWSServiceRoleForECS; the first cluster CloudFormation creates then fails."""
    iam = aws.client("iam")
    [role] = iam.list_roles(PathPrefix=f"/aws-service-role/{path.ECS_SERVICE}/")["Roles"]
    iam.delete_service_linked_role(RoleName=role["RoleName"])
    try:
        with pytest.raises(path.DeployFailed, match="Unable to assume the service linked role"):
            _sam_deploy(rehearsed, _built_template(rehearsed), "dropml-a3")
    finally:
        path.ecs_service_linked_role(path.Deployment(rehearsed.request), rehearsed.machine)  # the deploy's step 1
    assert fresh_account.ecs_role_exists()


def test_rehearsal_fails_if_api_gateway_may_not_assume_the_web_role_again(rehearsed):
    """B1: the web app's role trusts Lambda only; API Gateway cannot use Zappa's integration credentials."""
    role = rehearsed.result.deployment.stage["role_arn"].rsplit("/", 1)[-1]
    iam = aws.client("iam")
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    lambda_only = copy.deepcopy(trust)
    lambda_only["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(lambda_only))
    try:
        denied = [d for d in rehearsed.recheck() if not d.allowed]
    finally:
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
    assert [(d.access.caller, d.access.action, d.verdict) for d in denied] == [
        ("apigateway.amazonaws.com", "sts:AssumeRole", "ImplicitlyDenied")
    ]
    assert all(d.allowed for d in rehearsed.recheck())


def test_rehearsal_fails_if_the_web_role_may_not_invoke_its_function_again(rehearsed):
    """B1's other half: API Gateway, as the web role, calls lambda:InvokeFunction on the app (or its version)."""
    role = rehearsed.result.deployment.stage["role_arn"].rsplit("/", 1)[-1]
    iam = aws.client("iam")
    document = iam.get_role_policy(RoleName=role, PolicyName="web-app")["PolicyDocument"]
    without = copy.deepcopy(document)
    without["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "ApiGatewayInvokesTheApp"]
    assert len(without["Statement"]) == len(document["Statement"]) - 1
    iam.put_role_policy(RoleName=role, PolicyName="web-app", PolicyDocument=json.dumps(without))
    try:
        denied = [d for d in rehearsed.recheck() if not d.allowed]
    finally:
        iam.put_role_policy(RoleName=role, PolicyName="web-app", PolicyDocument=json.dumps(document))
    assert {(d.access.caller, d.access.action, d.verdict) for d in denied} == {
        (f"{role} (as apigateway.amazonaws.com)", "lambda:InvokeFunction", "ImplicitlyDenied")
    }
    assert all(d.allowed for d in rehearsed.recheck())


def test_rehearsal_fails_if_the_stack_names_no_code_bucket_for_zappa_again(rehearsed, tmp_path):
    """B2: WebCodeBucket left empty; Zappa would keep the placeholder bucket, which S3 refuses."""
    _sam_deploy(rehearsed, _built_template(rehearsed), "dropml-b2", WebCodeBucket="")
    request = dataclasses.replace(rehearsed.request, stack="dropml-b2", workdir=tmp_path)
    with pytest.raises(BadInput, match="no code bucket"):
        path.web_settings(path.Deployment(request), rehearsed.machine)
    assert names.bucket_name_problem("dropml-zappa-deployments-CHANGE-ME") is not None  # what Zappa kept before


def test_rehearsal_standin_made_no_resource_type_it_does_not_know(rehearsed):
    assert not [m for m in rehearsed.result.made if m.what == "not made: no stand-in for this type"]
    assert standin_stack.skipped_types() >= {"AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm"}
