"""A new AWS account's limits, applied to the rehearsal where AWS applies them.

moto has no quotas and creates an ECS cluster without a service-linked role, so a
stack that a new account refuses would pass on it untouched. :class:`FreshAccount`
holds what AWS documents for a new account, and:

- :meth:`FreshAccount.refuse_create` raises what CloudFormation would report when it
  creates the stack (a reserved concurrency the quota cannot give, the first ECS
  cluster without ``AWSServiceRoleForECS``, a bucket name already taken);
- :func:`rules_after_deploy` checks what was deployed against the rest (a fixed name
  a rolled-back create would keep, Lambda's package, environment and payload limits,
  schedules that fire on projects a fresh stack lacks, the web package's botocore,
  the Dask scheduler the web function cannot reach).

Sources: Lambda quotas ("New AWS accounts have reduced concurrency and memory quotas"; 250 MB unzipped,
4 KB of environment variables, 6 MB synchronous payload), Lambda's reserved concurrency ("You can reserve up to
the Unreserved account concurrency value ... minus 100"), ECS's service-linked role, CloudFormation's
``DeletionPolicy`` (``RetainExceptOnCreate``), S3's bucket naming rules.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropml import aws
from dropml import aws_names as names
from dropml.local import roles
from dropml.usecases import deploy as zappa_stage
from dropml.usecases.deploy_path import ECS_SERVICE, LAMBDA_UNZIPPED_BYTES, DeployFailed

FIXED_NAME_PROPERTIES = {  # type -> the property that gives it a fixed physical name
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
}
KEEPS_ON_ROLLBACK = ("Retain", "Snapshot")  # RetainExceptOnCreate deletes what a rolled-back create made


@dataclass(frozen=True)
class FreshAccount:
    """What a new account has: a Lambda concurrency quota of 10, no ECS service-linked role, no buckets."""

    lambda_concurrency: int = 10
    unreserved_minimum: int = 100  # Lambda keeps this much unreserved, whatever the quota

    def reservable(self) -> int:
        """How much concurrency functions may reserve in all (never below 0)."""
        return max(0, self.lambda_concurrency - self.unreserved_minimum)

    def refuse_create(self, transformed: dict[str, Any], names_of: dict[str, str]) -> None:
        """Raise what CloudFormation would report creating ``transformed`` in this account (nothing: it creates it).

        ``names_of`` resolves the template's fixed names (the stack's parameters and pseudo parameters).

        Raises:
            DeployFailed: AWS's own message for the first resource it would refuse.
        """
        resources = transformed["Resources"]
        reserved = sum(
            int(r["Properties"].get("ReservedConcurrentExecutions", 0))
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::Function"
        )
        already = _reserved_in_account()
        if reserved and reserved + already > self.reservable():
            raise DeployFailed(
                "CREATE_FAILED AWS::Lambda::Function: Specified ReservedConcurrentExecutions for function decreases "
                f"account's UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}] "
                f"(fresh account: quota {self.lambda_concurrency}, {reserved} reserved by the template)"
            )
        if any(r["Type"] == "AWS::ECS::Cluster" for r in resources.values()) and not ecs_role_exists():
            raise DeployFailed(
                "CREATE_FAILED AWS::ECS::Cluster: CreateCluster Invalid Request: Unable to assume the service linked "
                "role. Please verify that the ECS service linked role exists."
            )
        taken = {b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])}
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::S3::Bucket" and "BucketName" in resource.get("Properties", {}):
                name = roles.resolve(resource["Properties"]["BucketName"], names_of, transformed.get("Conditions"))
                if name in taken:
                    raise DeployFailed(f"CREATE_FAILED {logical_id}: {name} already exists")


def ecs_role_exists() -> bool:
    """Whether the account has ECS's service-linked role (IAM lists it under its service's path)."""
    return bool(aws.client("iam").list_roles(PathPrefix=f"/aws-service-role/{ECS_SERVICE}/").get("Roles"))


def _reserved_in_account() -> int:
    client = aws.client("lambda")
    total = 0
    for function in client.list_functions()["Functions"]:
        total += int(client.get_function_concurrency(FunctionName=function["FunctionName"]).get(
            "ReservedConcurrentExecutions", 0
        ))  # fmt: skip
    return total


@dataclass(frozen=True)
class RuleResult:
    """One fresh-account rule: what it says, where AWS says it, whether the deploy meets it, and the evidence."""

    rule: str
    source: str
    met: bool
    detail: str


def _lambda_rules(profile: FreshAccount, functions: list[str]) -> list[RuleResult]:
    client = aws.client("lambda")
    reserved = {}
    for name in functions:
        found = client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        if found:
            reserved[name] = int(found)
    sizes = {}
    for name in functions:
        variables = client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
        sizes[name] = sum(len(k) + len(v) for k, v in variables.items())
    return [
        RuleResult(
            f"Lambda concurrency: reserved <= quota {profile.lambda_concurrency} - {profile.unreserved_minimum}",
            "Lambda: configuration-concurrency (reserve up to unreserved minus 100); quotas (new accounts reduced)",
            sum(reserved.values()) <= profile.reservable(),
            f"reserved: {reserved or 'none'}",
        ),
        RuleResult(
            "Lambda environment variables <= 4 KB per function",
            "Lambda quotas: function environment variables 4 KB",
            all(size <= zappa_stage.LAMBDA_ENVIRONMENT_BYTES for size in sizes.values()),
            ", ".join(f"{name} {size} B" for name, size in sizes.items()),
        ),
    ]


def _fixed_names_rule(transformed: dict[str, Any]) -> RuleResult:
    kept = [
        f"{logical_id} ({resource.get('DeletionPolicy')})"
        for logical_id, resource in transformed["Resources"].items()
        if FIXED_NAME_PROPERTIES.get(resource["Type"]) in resource.get("Properties", {})
        and resource.get("DeletionPolicy") in KEEPS_ON_ROLLBACK
    ]
    return RuleResult(
        "a create that rolls back keeps no fixed-name resource (a retry would find the name taken)",
        "CloudFormation DeletionPolicy: RetainExceptOnCreate",
        not kept,
        f"kept on rollback: {kept}" if kept else "no fixed-name resource is Retain/Snapshot",
    )


def _bucket_names_rule() -> RuleResult:
    found = [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    bad = {name: problem for name in found if (problem := names.bucket_name_problem(name))}
    return RuleResult(
        "every bucket the deploy made has a name S3 accepts",
        "S3 general purpose bucket naming rules",
        not bad,
        f"refused: {bad}" if bad else f"{len(found)} bucket(s): {', '.join(sorted(found))}",
    )


def _package_rules(package: dict[str, Any], sam_build: Path | None) -> list[RuleResult]:
    results = []
    if package:
        results.append(
            RuleResult(
                "the web package fits Lambda's 250 MB unzipped",
                "Lambda quotas: deployment package 250 MB unzipped, layers included",
                package["unzipped_bytes"] <= LAMBDA_UNZIPPED_BYTES,
                f"{package['unzipped_bytes'] / 2**20:.1f} MiB unzipped ({package['zip_bytes'] / 2**20:.1f} MiB zip)"
                + (
                    f"; slim archive {package['unpacked_bytes'] / 2**20:.0f} MiB in /tmp"
                    if "unpacked_bytes" in package
                    else ""
                ),
            )
        )
    if sam_build is not None and sam_build.exists():
        sizes = {
            d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            for d in sam_build.iterdir()
            if d.is_dir()
        }
        layer = sum(size for name, size in sizes.items() if "Layer" in name)
        largest = max((size for name, size in sizes.items() if "Layer" not in name), default=0)
        results.append(
            RuleResult(
                "each SAM function with its layer fits Lambda's 250 MB unzipped",
                "Lambda quotas: deployment package 250 MB unzipped, layers included",
                largest + layer <= LAMBDA_UNZIPPED_BYTES,
                f"largest function {largest / 2**20:.2f} MiB + layer {layer / 2**20:.1f} MiB",
            )
        )
    return results


def _payload_rule(web_function: str | None) -> list[RuleResult]:
    if not web_function:
        return []
    variables = aws.client("lambda").get_function_configuration(FunctionName=web_function)["Environment"]["Variables"]
    body = int(variables.get("DROPML__SERVING__MAX_BODY_BYTES", 0))
    answer = int(variables.get("DROPML__SERVING__MAX_ANSWER_BYTES", 0))
    base64_body = (body + 2) // 3 * 4
    return [
        RuleResult(
            "the web function's request and answer fit Lambda's 6 MB synchronous payload",
            "Lambda quotas: invocation payload 6 MB (synchronous, request and response)",
            0 < base64_body < zappa_stage.LAMBDA_INVOKE_PAYLOAD_BYTES
            and 0 < answer < zappa_stage.LAMBDA_INVOKE_PAYLOAD_BYTES,
            f"body <= {body} B ({base64_body} B base64), answers <= {answer} B (past it: 413, not 502)",
        )
    ]


def _schedules_rule(bucket: str) -> RuleResult:
    scheduler = aws.client("scheduler")
    firing, every_project = [], []
    for summary in scheduler.list_schedules()["Schedules"]:
        schedule = scheduler.get_schedule(Name=summary["Name"])
        if schedule.get("State") != "ENABLED":
            continue
        project = json.loads(schedule["Target"].get("Input", "{}")).get("project", "")
        if not project:  # the daily monitoring of every project with traffic: on a fresh stack it finds none
            every_project.append(summary["Name"])
            continue
        listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"train/{project}/", MaxKeys=1)
        if not listed.get("KeyCount"):
            firing.append(f"{summary['Name']} -> {project or '(none)'}")
    return RuleResult(
        "no schedule fires on a project the fresh stack lacks (it would announce FAILED every run)",
        "dropml: a fresh stack has no project until the first upload",
        not firing,
        (f"enabled on empty projects: {firing}" if firing else "every schedule naming a project is off or has data")
        + (f"; for every project with traffic: {every_project}" if every_project else ""),
    )


def _botocore_rule(package_files: list[Path]) -> RuleResult:
    found = _packaged_put_object_parameters(package_files)
    storage = _packaged_file(package_files, "dropml/storage/__init__.py") or b""
    sends_header = b"_add_if_none_match" in storage
    if found is not None:
        detail = f"ships botocore: PutObject takes IfNoneMatch: {'IfNoneMatch' in found}"
    else:
        detail = "ships no botocore (the runtime's is used); dropml adds If-None-Match itself where it lacks it: "
        detail += str(sends_header)
    return RuleResult(
        "S3 conditional puts (If-None-Match) hold whatever botocore the Lambda runtime includes",
        "Lambda python runtimes: the included SDK version depends on runtime and Region; botocore 1.35.0 lacks it",
        (found is not None and "IfNoneMatch" in found) or (found is None and sends_header),
        detail,
    )


def _packaged_file(package_files: list[Path], name: str) -> bytes | None:
    """A file of the deployed package (the zip, or a slim handler's project archive), or None."""
    for package in package_files:
        if package.suffix == ".zip":
            with zipfile.ZipFile(package) as opened:
                if name in opened.namelist():
                    return opened.read(name)
        else:
            with tarfile.open(package) as opened:
                try:
                    extracted = opened.extractfile(name)
                except KeyError:
                    continue
                if extracted is not None:
                    return extracted.read()
    return None


def _is_s3_model(name: str) -> bool:
    """botocore's S3 service model (``botocore/data/s3/<date>/service-2.json[.gz]``), not its sdk-extras."""
    return name.startswith("botocore/data/s3/") and name.endswith(("/service-2.json", "/service-2.json.gz"))


def _packaged_put_object_parameters(package_files: list[Path]) -> set[str] | None:
    """The input members of S3 PutObject in the botocore the package ships (None: it ships none)."""
    for package in package_files:
        if package.suffix == ".zip":
            with zipfile.ZipFile(package) as opened:
                model = [n for n in opened.namelist() if _is_s3_model(n)]
                data = opened.read(model[-1]) if model else None
        else:
            with tarfile.open(package) as opened:
                members = [m for m in opened.getmembers() if _is_s3_model(m.name)]
                extracted = opened.extractfile(members[-1]) if members else None
                data = extracted.read() if extracted else None
        if data is not None:
            document = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
            shape = document["operations"]["PutObject"]["input"]["shape"]
            return set(document["shapes"][shape]["members"])
    return None


SNAPSTART_EPHEMERAL_MB = 512


def _snapstart_rule(web_function: str | None, stage: dict[str, Any]) -> list[RuleResult]:
    """SnapStart takes no ephemeral storage above 512 MB and no provisioned concurrency (Lambda refuses them).

    Read from the stage Zappa deployed: moto keeps neither SnapStart nor provisioned concurrency.
    """
    if not web_function or stage.get("snap_start", "None") == "None":
        return []
    configured = aws.client("lambda").get_function_configuration(FunctionName=web_function)
    storage = int(configured.get("EphemeralStorage", stage.get("ephemeral_storage", {})).get("Size", 512))
    provisioned = stage.get("provisioned_concurrency")
    return [
        RuleResult(
            "a SnapStart function has at most 512 MB of ephemeral storage and no provisioned concurrency",
            "Lambda SnapStart: supported features and limitations",
            storage <= SNAPSTART_EPHEMERAL_MB and not provisioned,
            f"snap_start {stage['snap_start']}: ephemeral storage {storage} MB, provisioned concurrency: "
            f"{provisioned or 'none'}",
        )
    ]


def _dask_rule(web_function: str | None) -> list[RuleResult]:
    if not web_function:
        return []
    configuration = aws.client("lambda").get_function_configuration(FunctionName=web_function)
    address = configuration["Environment"]["Variables"].get("DROPML__DASK__SCHEDULER_ADDRESS")
    in_vpc = bool(configuration.get("VpcConfig", {}).get("SubnetIds"))
    return [
        RuleResult(
            "the web function is given a Dask scheduler only if it can reach it (same VPC and security group)",
            "template.yaml: the scheduler's security group admits only its own members",
            not address or in_vpc,
            f"scheduler {address or 'none'}; function in a VPC: {in_vpc}",
        )
    ]


def rules_after_deploy(
    profile: FreshAccount,
    transformed: dict[str, Any],
    functions: list[str],
    web_function: str | None,
    bucket: str,
    package: dict[str, Any],
    package_files: list[Path],
    sam_build: Path | None,
    stage: dict[str, Any],
) -> list[RuleResult]:
    """Every fresh-account rule checked on what was deployed (see the module)."""
    return [
        RuleResult(
            "the first ECS cluster finds AWSServiceRoleForECS",
            "ECS: using service-linked roles; CloudFormation 'Unable to assume the service linked role'",
            ecs_role_exists(),
            "the deploy's first step made it" if ecs_role_exists() else "missing",
        ),
        *_lambda_rules(profile, functions + ([web_function] if web_function else [])),
        _fixed_names_rule(transformed),
        _bucket_names_rule(),
        *_package_rules(package, sam_build),
        *_payload_rule(web_function),
        _schedules_rule(bucket),
        *([_botocore_rule(package_files)] if package_files else []),
        *_dask_rule(web_function),
        *_snapstart_rule(web_function, stage),
    ]
