"""The deploy path, rehearsed on the stand-in under a fresh account's limits: ``python -m dropml.local.rehearsal``.

:func:`rehearse` starts moto enforcing IAM and recording every request, makes the
deployer (an administrator, as the person running ``make deploy`` is) and runs
:func:`dropml.usecases.deploy_path.deploy`, the code ``make deploy`` runs, with a
:class:`StandIn` machine: every command runs for real (``sam build``, ``sam
package``, ``zappa package``, ``zappa deploy``) against the stand-in, except

- ``sam deploy``: moto's CloudFormation has no SAM transform, so the packaged
  template is transformed with samtranslator and created with ``create_stack``
  (:mod:`dropml.local.standin_stack`, which also makes what that CloudFormation
  skips); :class:`~dropml.local.fresh_account.FreshAccount` refuses it first
  wherever a new account would;
- the image (no Docker engine here) and the smoke request (API Gateway invoking a
  Lambda needs Docker in moto): reported as not run, never faked.

Then it checks what was deployed: every access AWS's own services need
(:mod:`dropml.local.service_access`), every call the deploy made (against the
deployer's policy), and the fresh account's rules, and writes
``.dropml/deploy-report.md``. Exit code 1 if anything fails.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from dropml import aws, connection
from dropml.config import reset_settings_cache
from dropml.local import fresh_account, iam_check, roles, service_access, standin_stack, world
from dropml.local.moto_server import start_moto, use_endpoint
from dropml.stacks import stack_outputs as stack_outputs_of
from dropml.usecases import deploy_path as path
from dropml.usecases.deploy_path import DeployFailed, NotRunHere

ROOT = path.ROOT
REPORT = ROOT / ".dropml" / "deploy-report.md"
WORKDIR = ROOT / ".dropml" / "rehearsal"
STACK = "dropml"
REGION = "us-east-1"
NO_DOCKER = (
    "no Docker engine here: `docker login` (ECR's token), `docker build --platform {platform}` and `docker push "
    "{uri}` are not run, so the stand-in's ECR holds no image and nothing pulls one"
)
NO_INVOKE = (
    "API Gateway invoking a Lambda needs Docker in moto: the request to {url} is not sent (the package is answered "
    "through Zappa's handler under python3.12 by tests/integration/test_zappa_runtime.py instead)"
)
CANNOT_COVER = (
    "Pulling and running the training image: no Docker engine here; the image is built from training_job/Dockerfile "
    "only on a machine with Docker (its contents are tested, its platform follows the task definition).",
    "API Gateway invoking the web function, and any Lambda invocation (functions, keep_warm, schedules): moto runs "
    "Lambdas only in Docker. The web package is answered through Zappa's handler under python3.12 by "
    "test_zappa_runtime; the functions' handlers run in the local world's end-to-end tests.",
    "The SAM transform on AWS's side: moto's CloudFormation has none, so samtranslator (the library SAM's transform "
    "is made of) transforms the packaged template and create_stack creates it.",
    "CloudFormation's rollback and retry: moto does not roll a failed create back; RetainExceptOnCreate is checked "
    "as a rule on the template (no fixed-name resource is kept when a create rolls back).",
    "Quotas AWS gives no number for (a new account's Lambda memory quota, Fargate vCPUs): not checked.",
    "Eventual consistency (a role used seconds after it is made, the service-linked role race) and real network paths "
    "(NAT, VPC endpoints): not modelled by moto.",
)


STANDIN_NOTES = (
    "moto 5.2.5 refused every bodyless GET/HEAD/DELETE of Lambda, API Gateway and Scheduler with "
    "SignatureDoesNotMatch under IAM enforcement (it signed the parsed parameters instead of the empty payload); "
    "the stand-in runs with that fixed (dropml.local.moto_server).",
    "moto's CloudFormation returns LogGroup.Arn without the ':*' AWS returns, so the roles whose policies name it "
    "are put again with AWS's value; it registers task definitions without their roles, so the ECS checks read "
    "them from the template.",
    "moto names the ECS service-linked role AWSServiceRoleForecs (AWS: AWSServiceRoleForECS); the deploy finds it "
    "by its path, /aws-service-role/ecs.amazonaws.com/, as on AWS.",
    "The stand-in speaks plain HTTP, so a bucket policy's TLS-only Deny is left out there; the IAM checks evaluate "
    "the whole policy with aws:SecureTransport true, as boto3 calls AWS.",
)


class StandIn(path.Machine):
    """The deploy path's machine for the stand-in: commands run against moto; what cannot run here says why."""

    def __init__(self, root: Path, workdir: Path, profile: fresh_account.FreshAccount) -> None:
        super().__init__(root)
        self.workdir = workdir
        self.profile = profile
        self.transformed: dict[str, Any] = {}
        self.parameters: dict[str, str] = {}
        self.made: list[standin_stack.Made] = []

    def sam_deploy(self, request: path.SamDeploy) -> None:
        """``sam package`` for real, then CloudFormation's part: the SAM transform and ``create_stack``."""
        packaged = self.workdir / "packaged.yaml"
        self.run([
            self.sam(), "package", "--template-file", str(request.template), "--s3-bucket", request.bucket,
            "--s3-prefix", request.prefix, "--output-template-file", str(packaged), "--region", request.region,
        ])  # fmt: skip
        self.commands.append(
            f"(sam deploy --stack-name {request.stack}: SAM transform with samtranslator + create_stack)"
        )
        transformed = standin_stack.transform_packaged(packaged, request.region)
        account = aws.client("sts").get_caller_identity()["Account"]
        pseudo = {"AWS::StackName": request.stack, "AWS::Region": request.region, "AWS::AccountId": account}
        self.profile.refuse_create(transformed, {**pseudo, **request.parameters})
        standin_stack.create_or_update(request.stack, transformed, request.parameters, request.capabilities)
        self.made = standin_stack.complete(request.stack, transformed, request.parameters)
        self.transformed, self.parameters = transformed, dict(request.parameters)

    def push_image(self, image: path.ImageBuild, password: str) -> None:
        """Not here: no Docker engine."""
        raise NotRunHere(NO_DOCKER.format(platform=image.platform, uri=image.uri))

    def smoke(self, url: str, timeout: float = path.SMOKE_SECONDS) -> str:
        """Not here: moto invokes a Lambda only in Docker."""
        raise NotRunHere(NO_INVOKE.format(url=url))


@dataclass
class Rehearsal:
    """What a rehearsal did and found."""

    deployment: path.Deployment | None
    failure: str | None
    created: list[dict[str, str]] = field(default_factory=list)
    made: list[standin_stack.Made] = field(default_factory=list)
    decisions: list[service_access.Decision] = field(default_factory=list)
    deploy_calls: list[tuple[str, int, str, list[str]]] = field(default_factory=list)
    rules: list[fresh_account.RuleResult] = field(default_factory=list)
    seconds: float = 0.0
    report: str = ""

    @property
    def problems(self) -> list[str]:
        """Everything that would go wrong on AWS: a failed step, a denied access, a broken rule."""
        found = [f"deploy failed: {self.failure}"] if self.failure else []
        found += [
            f"denied: {d.access.caller} {d.access.action} on {d.access.resource} ({d.access.why}): {d.verdict}"
            for d in self.decisions
            if not d.allowed
        ]
        found += [
            f"deploy call denied: {action}" for action, _, verdict, _ in self.deploy_calls if verdict != "Allowed"
        ]
        found += [f"rule not met: {r.rule} ({r.detail})" for r in self.rules if not r.met]
        return found


def _default_network() -> tuple[str, list[str], list[str]]:
    """The stand-in's default VPC, one of its subnets and its default security group."""
    subnets, groups = world.default_network()
    vpc = aws.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    return vpc, subnets, groups


@dataclass
class Live:
    """A rehearsal whose stand-in still runs: what it found, and how to check the deployed stack again."""

    result: Rehearsal
    request: path.DeployRequest
    machine: StandIn

    def recheck(self) -> list[service_access.Decision]:
        """Every service access the deployed stack needs, decided again (after a change made to the stand-in)."""
        return _service_decisions(self.request, self.machine, self.result.deployment)


@contextmanager
def standing(
    workdir: Path = WORKDIR,
    root: Path = ROOT,
    profile: fresh_account.FreshAccount | None = None,
    report_path: Path | None = REPORT,
    say: Any = print,
) -> Iterator[Live]:
    """Rehearse (see the module) and write the report, keeping the stand-in up inside the ``with`` block.

    The process's environment points at the stand-in inside the block and is restored after it.
    """
    profile = profile or fresh_account.FreshAccount()
    workdir.mkdir(parents=True, exist_ok=True)
    recording = workdir / "calls.jsonl"
    recording.unlink(missing_ok=True)
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("DROPML__", "AWS_"))]:
        del os.environ[name]
    started = time.monotonic()
    moto = start_moto(in_process=False, enforce_iam=True, environment=iam_check.recording_environment(recording))
    try:
        deployer = roles.create_deployer(moto.endpoint, REGION)
        use_endpoint(moto.endpoint, deployer)
        connection.use_environment({"DROPML__STORAGE__REGION": REGION, "AWS_REGION": REGION})
        vpc, subnets, groups = _default_network()
        request = path.DeployRequest(
            stack=STACK,
            region=REGION,
            vpc_id=vpc,
            subnets=tuple(subnets),
            security_groups=tuple(groups),
            image_tag="rehearsal",
            root=root,
            workdir=workdir / "deploy",
        )
        machine = StandIn(root, workdir, profile)
        result = _deploy_and_check(request, machine, profile, recording, deployer.access_key_id, say)
        result.seconds = time.monotonic() - started
        result.report = report(result, profile)
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(result.report)
        yield Live(result, request, machine)
    finally:
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings_cache()
        aws.reset_clients()


def rehearse(**options: Any) -> Rehearsal:
    """Run the deploy path on a fresh stand-in, check it and write the report (``options``: :func:`standing`'s)."""
    with standing(**options) as live:
        return live.result


def _service_decisions(
    request: path.DeployRequest, machine: StandIn, deployment: path.Deployment | None
) -> list[service_access.Decision]:
    web = deployment.stage.get("project_name") if deployment and deployment.api_url else None
    names = standin_stack.physical_names(request.stack, machine.transformed, machine.parameters)
    tasks = standin_stack.resolved(machine.transformed, names, "AWS::ECS::TaskDefinition")
    return service_access.check_stack(request.stack, f"{web}-{request.stage}" if web else None, list(tasks.values()))


def _deploy_and_check(
    request: path.DeployRequest,
    machine: StandIn,
    profile: fresh_account.FreshAccount,
    recording: Path,
    deployer_key: str,
    say: Any,
) -> Rehearsal:
    from botocore.exceptions import ClientError

    failure = None
    try:
        deployment: path.Deployment | None = path.deploy(request, machine, say=say)
    except DeployFailed as err:
        failure, deployment = str(err), getattr(err, "deployment", None)
    result = Rehearsal(deployment, failure, made=machine.made)
    try:
        resources = aws.client("cloudformation").describe_stack_resources(StackName=request.stack)["StackResources"]
    except ClientError:
        resources = []
    result.created = [
        {"logical": r["LogicalResourceId"], "type": r["ResourceType"], "physical": r.get("PhysicalResourceId", "")}
        for r in resources
        if r.get("LogicalResourceId")
    ]
    web = deployment.stage.get("project_name") if deployment and deployment.api_url else None
    web_function = f"{web}-{request.stage}" if web else None
    if resources:
        result.decisions = _service_decisions(request, machine, deployment)
        bucket = next(r["physical"] for r in result.created if r["logical"] == "DataBucket")
        functions = [r["physical"] for r in result.created if r["type"] == "AWS::Lambda::Function"]
        packages = sorted((request.workdir).glob("web-*.zip")) + sorted((request.workdir / "web").glob("*.tar.gz"))
        result.rules = fresh_account.rules_after_deploy(
            profile,
            machine.transformed,
            functions,
            web_function,
            bucket,
            deployment.package if deployment else {},
            packages,
            request.workdir / "sam-build",
            deployment.stage if deployment else {},
        )
        if deployment and not failure:
            result.rules.append(operate(request.stack, request.region, bucket))
    result.deploy_calls = deploy_calls(recording, deployer_key)
    return result


EXAMPLE = ROOT / "examples" / "breast_cancer.csv"


def operate(stack: str, region: str, bucket: str) -> fresh_account.RuleResult:
    """``dropml --stack <stack> train default --file ...`` as a user runs it next: the upload lands in the stack's
    bucket (not config.json's) and its S3 event reaches the stack's training queue."""
    command = ["--stack", stack, "--region", region, "train", "default", "--file", str(EXAMPLE)]
    ran = subprocess.run(
        [sys.executable, "-m", "dropml.cli", *command], capture_output=True, text=True, timeout=300, check=False
    )
    key = f"train/{EXAMPLE.name}"
    queue = stack_outputs_of(stack)["TrainingQueueUrl"]
    received = aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    keys = [
        unquote_plus(record["s3"]["object"]["key"])
        for message in received.get("Messages", [])
        for record in json.loads(message["Body"]).get("Records", [])
    ]
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0)
    return fresh_account.RuleResult(
        "dropml --stack trains on the deployed stack: the upload lands in its bucket, its event in its queue",
        "the CLI finds the stack from its outputs (dropml.stacks), as sam reads samconfig.toml",
        ran.returncode == 0 and listed == 1 and key in keys,
        f"exit {ran.returncode}; s3://{bucket}/{key}: {'there' if listed else 'missing'}; TrainingQueue got {keys}"
        + (f"; {ran.stderr.strip()[-300:]}" if ran.returncode else ""),
    )


# ── the deploy's own calls ────────────────────────────────────────────────────

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")
IAM_PREFIX = {"monitoring": "cloudwatch"}  # signing name -> IAM action prefix, where they differ


@functools.cache
def _rest_operations(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    """(HTTP method, path pattern, operation) of a REST service, most specific first (botocore's model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(template))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        found.append((http["method"], re.compile(pattern + "/?"), name))
    return sorted(found, key=lambda item: -len(item[1].pattern))


def _operation(service: str, entry: dict[str, Any]) -> str:
    target = entry["headers"].get("X-Amz-Target")
    if target:
        return str(target.rsplit(".", 1)[-1])
    parts = urlsplit(entry["url"])
    body = iam_check.request_body(entry)
    if body.startswith(b"Action=") or b"&Action=" in body:  # the query protocol (IAM, STS, CloudFormation, SNS)
        return parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
    if "Action" in parse_qs(parts.query):
        return parse_qs(parts.query)["Action"][0]
    for method, pattern, name in _rest_operations(service):
        if method == entry["method"] and pattern.fullmatch(parts.path):
            return name
    return f"{entry['method']} {parts.path}"


def _s3_bucket_action(entry: dict[str, Any]) -> str:
    """A bucket-level S3 call's action: CreateBucket, or Put/Get/DeleteBucket<subresource> (PutBucketPolicy ...)."""
    parts = urlsplit(entry["url"])
    subresources = sorted(parse_qs(parts.query, keep_blank_values=True))
    verb = {"PUT": "Put", "GET": "Get", "DELETE": "Delete", "HEAD": "Get"}.get(entry["method"], entry["method"])
    if not subresources:
        return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(entry["method"], f"s3:{verb}Bucket")
    name = subresources[0]
    return f"s3:{verb}Bucket{name[:1].upper()}{name[1:]}"


def deploy_calls(recording: Path, deployer_key: str) -> list[tuple[str, int, str, list[str]]]:
    """Each action the deployer's requests needed (count, verdict, deciding statement), from the recording."""
    if not recording.exists():
        return []
    counted: Counter[str] = Counter()
    for entry in iam_check.recorded_requests(recording):
        match = _CREDENTIAL.search(entry["headers"].get("Authorization", ""))
        if not match or match.group(1) != deployer_key:
            continue
        service = match.group(3)
        if service == "s3":
            actions = [action for action, _, _ in (iam_check.s3_actions(entry) or [])] or [_s3_bucket_action(entry)]
        elif service == "apigateway":
            actions = [f"apigateway:{entry['method']}"]
        else:
            actions = [f"{IAM_PREFIX.get(service, service)}:{_operation(service, entry)}"]
        counted.update(actions)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    payload = [
        {
            "principal": f"arn:aws:iam::{world.LOCAL_ACCOUNT}:user/{roles.DEPLOYER}",
            "action": action,
            "resource": "*",
            "context": {},
            "policies": [{"name": "deployer-everything", "policy": everything}],
            "explain": True,
        }
        for action in sorted(counted)
    ]
    verdicts = iam_check.run_simulator(payload) if payload else []
    return [
        (
            action,
            counted[action],
            v["result"] if isinstance(v, dict) else v,
            v.get("allowedBy", []) if isinstance(v, dict) else [],
        )
        for action, v in zip(sorted(counted), verdicts, strict=True)
    ]


# ── the report ────────────────────────────────────────────────────────────────


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A report section: its heading and a Markdown table."""
    return [
        "",
        f"## {title}",
        "",
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows),
    ]


def report(result: Rehearsal, profile: fresh_account.FreshAccount) -> str:
    """``.dropml/deploy-report.md``: summary, steps, what was created and by whom, IAM decisions, rules."""
    outcomes = result.deployment.outcomes if result.deployment else []
    done = sum(o.status == "done" for o in outcomes)
    allowed = sum(d.allowed for d in result.decisions)
    met = sum(r.met for r in result.rules)
    calls_allowed = sum(v == "Allowed" for _, _, v, _ in result.deploy_calls)
    made = [m for m in result.made if m.what.startswith("made")]
    lines = [
        "# Deploy rehearsal",
        "",
        f"`python -m dropml.local.rehearsal` (also `pytest -k rehearsal`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{result.seconds:.0f} s. The deploy path of `make deploy` (`dropml.usecases.deploy_path`) against moto's "
        f"server with IAM enforced, as a fresh account: Lambda concurrency quota {profile.lambda_concurrency} "
        f"({profile.unreserved_minimum} kept unreserved), no ECS service-linked role, no buckets.",
        "",
        "## Summary",
        "",
        "| what | result |",
        "| --- | --- |",
        f"| verdict | {'**PASS**' if not result.problems else '**FAIL**: ' + _cell(result.problems[0])} |",
        f"| steps | {done} done, {len(outcomes) - done} not run here, of {len(path.STEPS)}"
        + (f"; failed: {_cell(result.failure[:300])}" if result.failure else "")
        + " |",
        f"| CloudFormation | {len(result.created)} resources created by the stand-in's CloudFormation; "
        f"{len(made)} resources or properties made by the world instead |",
        f"| AWS services' access (IAM simulator) | {allowed} allowed, {len(result.decisions) - allowed} denied |",
        f"| the deploy's own calls | {len(result.deploy_calls)} distinct actions, {calls_allowed} allowed |",
        f"| fresh-account rules | {met} met, {len(result.rules) - met} not met |",
        "",
        "## Steps",
        "",
        "| # | step | status | detail | commands |",
        "| --- | --- | --- | --- | --- |",
    ]
    for number, outcome in enumerate(outcomes, 1):
        commands = "<br>".join(f"`{_cell(c[:160])}`" for c in outcome.commands) or "-"
        lines.append(f"| {number} | {outcome.step} | {outcome.status} | {_cell(outcome.detail)} | {commands} |")
    if result.failure:
        lines += ["", f"**Failed:** {_cell(result.failure)}"]
    lines += _table(
        "What CloudFormation created",
        ["logical id", "type", "physical id"],
        [[r["logical"], r["type"], r["physical"]] for r in result.created],
    )
    lines += _table(
        "What the world made instead (moto's CloudFormation skips these types or ignores these properties)",
        ["logical id", "type or property", "how"],
        [[m.logical_id, m.resource_type, m.what] for m in result.made],
    )
    lines += _table(
        "IAM decisions: what AWS's services do for the stack",
        ["caller", "action", "resource", "why", "verdict", "statement that decided"],
        [
            [d.access.caller, d.access.action, d.access.resource, d.access.why, d.verdict,
             ", ".join(d.allowed_by or d.denied_by) or "-"]
            for d in result.decisions
        ],
    )  # fmt: skip
    lines += [
        "",
        "EventBridge rules that name a `RoleArn` for the rule (Zappa's keep_warm puts `role_arn` there) invoke a "
        "Lambda target through the function's resource policy, which is what is checked above.",
    ]
    lines += _table(
        "IAM decisions: the deploy's own calls (the deployer, an administrator)",
        ["action", "calls", "verdict", "statement"],
        [[a, n, v, ", ".join(s) or "-"] for a, n, v, s in result.deploy_calls],
    )
    lines += _table(
        "Fresh-account rules",
        ["rule", "source", "met", "evidence"],
        [[r.rule, r.source, "yes" if r.met else "**no**", r.detail] for r in result.rules],
    )
    lines += ["", "## What the rehearsal cannot cover", "", *(f"- {item}" for item in CANNOT_COVER)]
    lines += [
        "",
        "## Where the stand-in differs from AWS, and what was done",
        "",
        *(f"- {i}" for i in STANDIN_NOTES),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rehearse, write the report, print the problems; 0 when none."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", type=Path, default=WORKDIR)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    result = rehearse(workdir=args.workdir, report_path=args.report)
    print(f"report: {args.report} ({result.seconds:.0f} s)")
    for problem in result.problems:
        print(f"  {problem}")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
