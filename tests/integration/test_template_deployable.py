"""template.yaml as it would run on AWS: the defects a review of the deployed stack found, each held by a test."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from dropml.jobs import launcher
from dropml.local import world
from dropml.usecases import deploy
from tests.conftest import ROOT

# Fargate's cpu -> memory (MiB) table, from the ECS developer guide ("Task CPU and memory")
FARGATE_PAIRS = {
    "1024": range(2048, 8192 + 1, 1024),
    "2048": range(4096, 16384 + 1, 1024),
    "4096": range(8192, 30720 + 1, 1024),
    "8192": range(16384, 61440 + 1, 4096),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return world.load_template()


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _evaluate(condition: Any, parameters: dict[str, str]) -> Any:
    """CloudFormation's rule functions (Fn::Or/And/Equals/Contains, Ref) on the given parameter values."""
    if isinstance(condition, dict):
        [(name, args)] = condition.items()
        if name == "Ref":
            return parameters[args]
        values = [_evaluate(arg, parameters) for arg in args]
        if name == "Fn::Or":
            return any(values)
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Equals":
            return str(values[0]) == str(values[1])
        if name == "Fn::Contains":
            return str(values[1]) in [str(v) for v in values[0]]
        raise AssertionError(f"unexpected rule function {name}")
    if isinstance(condition, list):
        return [_evaluate(item, parameters) for item in condition]
    return condition


def _pair_allowed(template: dict[str, Any], cpu: str, memory: int) -> bool:
    assertions = template["Rules"]["FargateCpuMemoryPair"]["Assertions"]
    parameters = {"TrainingCpu": cpu, "TrainingMemory": str(memory)}
    return all(_evaluate(a["Assert"], parameters) for a in assertions)


def test_the_rule_admits_exactly_fargates_cpu_memory_pairs(template):
    cpus = template["Parameters"]["TrainingCpu"]["AllowedValues"]
    memory = template["Parameters"]["TrainingMemory"]
    for cpu, mib in itertools.product(cpus, range(memory["MinValue"], memory["MaxValue"] + 1, 1024)):
        assert _pair_allowed(template, cpu, mib) == (mib in FARGATE_PAIRS[cpu]), (cpu, mib)
    assert _pair_allowed(template, template["Parameters"]["TrainingCpu"]["Default"], memory["Default"])
    assert not _pair_allowed(template, "1024", 16384)  # passed the old parameter checks, refused by Fargate


def test_the_live_version_parameter_is_the_publishers_not_the_stacks(template):
    assert _resources(template, "AWS::SSM::Parameter") == {}
    assert "DefaultProject" not in template["Parameters"]
    publisher = template["Resources"]["ModelPublishedFunction"]["Properties"]["Policies"]
    statements = [s for p in publisher if isinstance(p, dict) for s in p.get("Statement", [])]
    live = next(s for s in statements if s.get("Sid") == "LiveVersion")
    assert "ssm:PutParameter" in live["Action"]  # creates /<stack>/<project>/model-version on the first publish


def test_every_queue_hides_a_message_six_times_its_functions_timeout(template):
    default_timeout = template["Globals"]["Function"]["Timeout"]
    queues = _resources(template, "AWS::SQS::Queue")
    for spec in world.function_specs(template):
        function = template["Resources"][spec.logical_id]["Properties"]
        timeout = function.get("Timeout", default_timeout)
        visibility = queues[spec.queue]["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * timeout, (spec.queue, visibility, spec.logical_id, timeout)


def test_the_data_bucket_outlives_the_stack_and_every_log_group_expires(template):
    bucket = template["Resources"]["DataBucket"]
    # kept when the stack is deleted or replaces it, but not when its first create rolls back: a retry would find
    # its fixed name taken (CloudFormation's DeletionPolicy: RetainExceptOnCreate)
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    groups = _resources(template, "AWS::Logs::LogGroup")
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())
    named = [json.dumps(g["Properties"]["LogGroupName"]) for g in groups.values()]
    for function in _resources(template, "AWS::Serverless::Function"):
        assert any(f"/aws/lambda/${{{function}}}" in name for name in named), function
    assert any("/aws/lambda/${WebFunctionName}" in name for name in named)


def test_job_died_rule_watches_only_the_job_task_group(template):
    pattern = template["Resources"]["JobDiedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["group"] == [launcher.JOB_TASK_GROUP]


def test_dask_workers_get_the_jobs_settings_and_scoring_tasks_join_the_dask_group(template):
    worker = template["Resources"]["DaskWorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    job = template["Resources"]["TrainingTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    worker_env = {e["Name"] for e in worker["Environment"]}
    job_env = {e["Name"] for e in job["Environment"]} - {"DROPML__DASK__SCHEDULER_ADDRESS"}
    job_env = {name for name in job_env if not name.startswith("DROPML__DASK__TRAINING_")}  # the run's own cluster
    assert job_env <= worker_env
    groups = template["Globals"]["Function"]["Environment"]["Variables"]["DROPML__LAUNCHER__SECURITY_GROUPS"]
    assert "DaskSecurityGroup" in json.dumps(groups)
    assert "DaskSecurityGroup" in json.dumps(template["Outputs"]["TaskSecurityGroupIds"])


def test_the_training_image_installs_what_the_dask_tasks_run():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dockerfile = (ROOT / "training_job" / "Dockerfile").read_text()
    installed = dockerfile.split("-c constraints.txt '.[", 1)[1].split("]'", 1)[0].split(",")
    requirements = [r for extra in installed for r in extras[extra]]
    assert any(r.startswith("dask[distributed]") for r in requirements), installed


def test_the_web_app_role_is_least_privilege(template):
    role = template["Resources"]["WebAppRole"]["Properties"]
    principals = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    # API Gateway assumes it too: Zappa makes role_arn the REST API integration's Credentials
    assert principals == [{"Service": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]}]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if isinstance(s, dict)]
    actions = [
        a for s in statements if "Action" in s for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in actions if a.endswith("*")], actions
    assert {"ssm:GetParameter", "ssm:PutParameter", "ecs:RunTask", "iam:PassRole", "s3:GetObject"} <= set(actions)
    resources = json.dumps([s.get("Resource") for s in statements])
    assert '"*"' not in resources


def test_readme_names_every_endpoint_a_private_subnet_needs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("private subnet", 1)[1][:1500].lower()
    for endpoint in ("ecr.api", "ecr.dkr", "s3", "gateway", "logs", "ssm", "sns", "nat"):
        assert endpoint in section, endpoint


def test_the_zappa_stage_body_limit_fits_lambdas_payload_after_base64():
    stage = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
    limit = int(stage["environment_variables"]["DROPML__SERVING__MAX_BODY_BYTES"])
    assert limit == deploy.API_GATEWAY_MAX_BODY_BYTES
    assert stage["binary_support"] is True
    assert -(-limit // 3) * 4 < deploy.LAMBDA_INVOKE_PAYLOAD_BYTES - 256 * 1024  # base64 + room for the event
    assert f"{limit:,}" in (ROOT / "README.md").read_text()


def test_pyarrow_has_one_rule_on_lambda():
    """Left out of the package (156 MB unpacked) and never imported there: the stage turns the fast path off."""
    stage = json.loads((ROOT / "zappa_settings.json").read_text())["dev"]
    assert "pyarrow" in stage["exclude"]
    assert stage["environment_variables"]["DROPML__SERVING__FAST_CSV_READ"] == "false"


def test_no_function_reserves_concurrency_and_each_queue_caps_its_copies(template):
    """A new account's Lambda quota can be 10 and Lambda keeps 100 unreserved: any reservation fails the create."""
    functions = _resources(template, "AWS::Serverless::Function")
    assert all("ReservedConcurrentExecutions" not in f["Properties"] for f in functions.values())
    caps = {
        spec.logical_id: functions[spec.logical_id]["Properties"]["Events"] for spec in world.function_specs(template)
    }
    for function, events in caps.items():
        sqs = [e for e in events.values() if e["Type"] == "SQS"]
        assert all(e["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2 for e in sqs), function
    publisher = caps["ModelPublishedFunction"]["ManifestWritten"]["Properties"]["ScalingConfig"]
    assert publisher["MaximumConcurrency"] == 2  # at most two publishers race on SSM


def test_the_schedules_are_off_until_their_project_is_named(template):
    parameters = template["Parameters"]
    assert parameters["RetrainProject"]["Default"] == parameters["ScoringProject"]["Default"] == ""
    events = [
        e
        for f in _resources(template, "AWS::Serverless::Function").values()
        for e in f["Properties"]["Events"].values()
        if e["Type"] == "ScheduleV2"
    ]
    per_project = [e for e in events if '"project"' in str(e["Properties"]["Input"])]
    assert len(per_project) == 2
    assert all(e["Properties"]["State"]["Fn::If"][1:] == ["ENABLED", "DISABLED"] for e in per_project)
    # the one schedule that names no project monitors every project with traffic: a fresh stack has none
    (every_project,) = [e for e in events if e not in per_project]
    assert json.loads(every_project["Properties"]["Input"]) == {"schedule": "daily-monitoring", "job": "monitor"}
