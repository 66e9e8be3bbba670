"""Every AWS call the local world's components made, checked against their EXACT policies offline.

moto enforces IAM by action, and by resource only for S3, SQS, IAM and STS,
with few conditions (:mod:`dropml.local.roles`). So the stand-in records every
request it receives (moto's recorder: ``MOTO_ENABLE_RECORDING``);
:func:`requests_from_recording` turns each into the IAM request AWS would
authorize — action, resource ARN, condition keys such as ``s3:prefix`` and
``ecs:cluster``, and the implied checks (``iam:PassRole`` for ``ecs:RunTask``,
the topic key for an encrypted ``sns:Publish``) — attributed to the component
whose role signed it; :func:`check` evaluates each with a real IAM policy
simulator (``@cloud-copilot/iam-simulate`` under node, installed by ``make
install`` in ``.cache/iam-simulate``) against the component's policies as
CloudFormation makes them, and :func:`report` writes the table of components ×
actions used × actions granted (and granted but never used).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dropml.local import roles
from dropml.local.world import LOCAL_ACCOUNT

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR_DIR = ROOT / ".cache" / "iam-simulate"
SIMULATOR_SCRIPT = Path(__file__).with_name("iam_simulate.mjs")
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class IamRequest:
    """One authorization AWS would make: who, which action on which resource, with which condition keys."""

    component: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def recording_environment(path: Path) -> dict[str, str]:
    """The moto server's environment for recording every request into ``path``."""
    return {"MOTO_ENABLE_RECORDING": "True", "MOTO_RECORDER_FILEPATH": str(path)}


def requests_from_recording(
    path: Path, components: dict[str, roles.ComponentRole], names: dict[str, str]
) -> tuple[list[IamRequest], list[str]]:
    """The IAM requests of every recorded call signed by a component's role; (requests, calls not understood).

    ``names`` are the stack's physical names (:func:`dropml.local.roles.stack_names`). Calls signed by anyone
    else (the deployer, who builds the world) are left out.
    """
    by_key = {role.credentials.access_key_id: name for name, role in components.items()}
    found: list[IamRequest] = []
    unknown: list[str] = []
    for entry in recorded_requests(path):
        match = _CREDENTIAL.search(entry["headers"].get("Authorization", ""))
        if not match or match.group(1) not in by_key:
            continue
        component, region, service = by_key[match.group(1)], match.group(2), match.group(3)
        made = _iam_requests(service, entry, region, names)
        if made is None:
            unknown.append(f"{component}: {entry['method']} {entry['url']} {entry['headers'].get('X-Amz-Target', '')}")
            continue
        found += [
            IamRequest(component, action, resource, tuple(sorted(context.items())))
            for action, resource, context in made
        ]
    return found, unknown


def recorded_requests(path: Path) -> Iterator[dict[str, Any]]:
    """Every request moto's recorder wrote to ``path``.

    Its threads append without a lock (the JSON, then a newline, in two writes), so one line can hold two
    requests back to back: each line is read as a sequence of JSON documents.
    """
    decoder = json.JSONDecoder()
    with path.open() as lines:
        for raw in lines:
            line, position = raw.strip(), 0
            while position < len(line):
                entry, position = decoder.raw_decode(line, position)
                yield entry


def request_body(entry: dict[str, Any]) -> bytes:
    """The body of a recorded request, as sent."""
    body = entry.get("body") or ""
    return base64.b64decode(body) if entry.get("body_encoded") else body.encode()


Made = list[tuple[str, str, dict[str, str]]]


def _iam_requests(service: str, entry: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    """(action, resource, context) of one recorded request; None if this module does not know the call."""
    if service == "s3":
        return s3_actions(entry)
    target = entry["headers"].get("X-Amz-Target")
    if target:  # JSON protocols (SQS, SSM, ECS)
        operation = target.rsplit(".", 1)[-1]
        params = json.loads(request_body(entry) or b"{}")
    else:  # query protocol (SNS, STS, IAM)
        form = parse_qs(request_body(entry).decode())
        operation = form.get("Action", [""])[0]
        params = {k: v[0] for k, v in form.items()}
    maker = _BY_SERVICE.get(service)
    return maker(operation, params, region, names) if maker else None


LIST_QUERY = {"list-type", "prefix", "encoding-type", "delimiter", "continuation-token", "start-after", "max-keys"}
UPLOAD_QUERY = {"uploads", "uploadId", "partNumber"}  # a multipart upload is s3:PutObject


def s3_actions(entry: dict[str, Any]) -> Made | None:
    """(action, resource, context) of one recorded S3 request; None if this module does not know the call."""
    parts = urlsplit(entry["url"])
    bucket, _, key = parts.path.lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if key:
        return _s3_object(entry, f"arn:aws:s3:::{bucket}/{unquote(key)}", query)
    return _s3_bucket(entry, f"arn:aws:s3:::{bucket}", query)


def _s3_bucket(entry: dict[str, Any], bucket_arn: str, query: dict[str, list[str]]) -> Made | None:
    method = entry["method"]
    prefix = {"s3:prefix": unquote(query.get("prefix", [""])[0])}
    if method in ("GET", "HEAD") and not set(query) - LIST_QUERY:
        return [("s3:ListBucket", bucket_arn, prefix)]
    if method == "GET" and "versions" in query:
        return [("s3:ListBucketVersions", bucket_arn, prefix)]
    if method == "POST" and "delete" in query:  # DeleteObjects: each key needs s3:DeleteObject
        keys = re.findall(r"<Key>(.*?)</Key>", request_body(entry).decode())
        return [("s3:DeleteObject", f"{bucket_arn}/{html.unescape(k)}", {}) for k in keys]
    return None


def _s3_object(entry: dict[str, Any], object_arn: str, query: dict[str, list[str]]) -> Made | None:
    method = entry["method"]
    if method in ("GET", "HEAD"):
        return [("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", object_arn, {})]
    if method == "DELETE":
        return [("s3:DeleteObject", object_arn, {})]
    if method in ("PUT", "POST") and not set(query) - UPLOAD_QUERY:
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        copied = headers.get("x-amz-copy-source")
        reads = [("s3:GetObject", "arn:aws:s3:::" + unquote(copied).lstrip("/").split("?")[0], {})] if copied else []
        return [("s3:PutObject", object_arn, {}), *reads]
    return None


def _queue_arn(url: str, region: str) -> str:
    return f"arn:aws:sqs:{region}:{LOCAL_ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[-1]}"


def _sqs(operation: str, params: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    if operation == "ListQueues":  # no resource to scope it by, on AWS either
        return [("sqs:ListQueues", "*", {})]
    if "QueueUrl" not in params:
        return None
    return [(f"sqs:{operation}", _queue_arn(params["QueueUrl"], region), {})]


def _ssm(operation: str, params: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    parameter_names = params.get("Names") or ([params["Name"]] if "Name" in params else [])
    if not parameter_names:
        return None
    prefix = f"arn:aws:ssm:{region}:{LOCAL_ACCOUNT}:parameter"
    return [(f"ssm:{operation}", prefix + ("" if n.startswith("/") else "/") + n, {}) for n in parameter_names]


def _sns(operation: str, params: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    if operation != "Publish" or "TopicArn" not in params:
        return None
    key = names["EventsTopicKey.Arn"]  # the topic is encrypted with it: a publisher must be able to use it
    return [("sns:Publish", params["TopicArn"], {}), ("kms:GenerateDataKey", key, {}), ("kms:Decrypt", key, {})]


def _ecs(operation: str, params: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    if operation != "RunTask":
        return None
    family, _, revision = params["taskDefinition"].rsplit("/", 1)[-1].partition(":")
    task_definition = f"arn:aws:ecs:{region}:{LOCAL_ACCOUNT}:task-definition/{family}:{revision or '1'}"
    cluster = f"arn:aws:ecs:{region}:{LOCAL_ACCOUNT}:cluster/{params.get('cluster', 'default').rsplit('/', 1)[-1]}"
    passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    return [
        ("ecs:RunTask", task_definition, {"ecs:cluster": cluster}),
        ("iam:PassRole", names["TrainingTaskRole.Arn"], passed),  # the task definition's roles are passed
        ("iam:PassRole", names["TrainingExecutionRole.Arn"], passed),
    ]


def _sts(operation: str, params: dict[str, Any], region: str, names: dict[str, str]) -> Made | None:
    return [] if operation == "GetCallerIdentity" else None  # allowed to everyone, whatever the policies


_BY_SERVICE = {"sqs": _sqs, "ssm": _ssm, "sns": _sns, "ecs": _ecs, "sts": _sts}


def simulator_installed() -> bool:
    """Whether node and the simulator package are here (``make install`` puts it in .cache/iam-simulate)."""
    return shutil.which("node") is not None and (SIMULATOR_DIR / "node_modules" / "@cloud-copilot").is_dir()


RESOURCE_POLICIES = {  # resource type -> (the policy property, the property naming what it applies to)
    "AWS::KMS::Key": ("KeyPolicy", None),
    "AWS::S3::BucketPolicy": ("PolicyDocument", "Bucket"),
    "AWS::SNS::TopicPolicy": ("PolicyDocument", "Topics"),
    "AWS::SQS::QueuePolicy": ("PolicyDocument", "Queues"),
}


def resource_policies(transformed: dict[str, Any], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Resource ARN → its policy, as the stack makes them: key policies, bucket, topic and queue policies.

    AWS evaluates them with the identity policies: a key policy that does not delegate to the account denies
    every role, a bucket policy's Deny (e.g. non-TLS) overrides any Allow.
    """
    found: dict[str, dict[str, Any]] = {}
    conditions = transformed.get("Conditions", {})
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] not in RESOURCE_POLICIES or "Condition" in resource:
            continue
        policy_property, target_property = RESOURCE_POLICIES[resource["Type"]]
        document = roles.resolve(resource["Properties"][policy_property], names, conditions)
        if target_property is None:
            found[names[f"{logical_id}.Arn"]] = document
            continue
        targets = resource["Properties"][target_property]
        for target in targets if isinstance(targets, list) else [targets]:
            ref = target["Ref"]
            found[names.get(f"{ref}.Arn") or names[ref]] = document
    return found


def _resource_policy(resource: str, policies: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The policy of ``resource`` (an S3 object's is its bucket's)."""
    if resource in policies:
        return policies[resource]
    if resource.startswith("arn:aws:s3:::"):
        return policies.get(resource.split("/", 1)[0])
    return None


def check(
    requests: list[IamRequest],
    components: dict[str, roles.ComponentRole],
    policies: dict[str, dict[str, Any]] | None = None,
) -> dict[IamRequest, str]:
    """Each distinct request's verdict from the simulator: ``Allowed``, ``ImplicitlyDenied``, ``ExplicitlyDenied``.

    ``policies`` are the resource policies (:func:`resource_policies`). Every request is made over TLS, as boto3
    makes them on AWS.

    Raises:
        RuntimeError: node or the simulator is missing, or it failed.
    """
    if not simulator_installed():
        raise RuntimeError(f"the IAM simulator is not installed: make install (needs node; looked in {SIMULATOR_DIR})")
    distinct = sorted(set(requests), key=lambda r: (r.component, r.action, r.resource, r.context))
    payload = [
        {
            "principal": f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{components[r.component].role_name}/{r.component}",
            "action": r.action,
            "resource": r.resource,
            "context": {"aws:SecureTransport": "true", **dict(r.context)},
            "policies": [{"name": n, "policy": p} for n, p in components[r.component].documents.items()],
            "resourcePolicy": _resource_policy(r.resource, policies or {}),
        }
        for r in distinct
    ]
    return dict(zip(distinct, run_simulator(payload), strict=True))


def run_simulator(payload: list[dict[str, Any]]) -> list[Any]:
    """The simulator's verdict on each item of ``payload`` (see iam_simulate.mjs for the item's fields).

    Raises:
        RuntimeError: node or the simulator is missing, or it failed.
    """
    if not simulator_installed():
        raise RuntimeError(f"the IAM simulator is not installed: make install (needs node; looked in {SIMULATOR_DIR})")
    ran = subprocess.run(
        ["node", str(SIMULATOR_SCRIPT)],
        input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=300,
        env={"PATH": os.environ.get("PATH", ""), "NODE_PATH": str(SIMULATOR_DIR / "node_modules")},
    )  # fmt: skip
    if ran.returncode != 0:
        raise RuntimeError(f"the IAM simulator failed: {ran.stderr[-2000:]}")
    return list(json.loads(ran.stdout))


def granted_actions(role: roles.ComponentRole) -> set[str]:
    """The actions the role's Allow statements name (wildcards as written)."""
    found: set[str] = set()
    for document in role.documents.values():
        for statement in document.get("Statement", []):
            if statement.get("Effect") == "Allow":
                actions = statement.get("Action", [])
                found.update([actions] if isinstance(actions, str) else actions)
    return found


def report(verdicts: dict[IamRequest, str], components: dict[str, roles.ComponentRole], unknown: list[str]) -> str:
    """Markdown: per component, actions used (distinct requests, denied ones named) and granted but never used."""
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for request in verdicts:
        used[request.component][request.action] += 1
    lines = [
        "| component (role) | actions used (distinct resources) | granted, never used here |",
        "| --- | --- | --- |",
    ]
    for name, role in sorted(components.items()):
        actions = used.get(name, {})
        shown = ", ".join(f"`{a}` ({n})" for a, n in sorted(actions.items())) or "none"
        unused = sorted(a for a in granted_actions(role) if not any(_covers(a, u) for u in actions))
        lines.append(f"| {name} ({role.role_logical_id}) | {shown} | {', '.join(f'`{a}`' for a in unused) or '-'} |")
    denied = [f"- {r.component}: {r.action} on {r.resource} {dict(r.context)}: {v}" for r, v in verdicts.items()
              if v != "Allowed"]  # fmt: skip
    lines += ["", f"{len(verdicts)} distinct requests checked; denied: {len(denied)}", *denied]
    if unknown:
        lines += ["", f"calls this check does not understand ({len(unknown)}):", *(f"- {u}" for u in unknown)]
    return "\n".join(lines) + "\n"


def check_recording(
    path: Path, components: dict[str, roles.ComponentRole], names: dict[str, str], transformed: dict[str, Any]
) -> CheckResult:
    """Read the recording, check every component's requests, and make the report (see the module).

    ``transformed`` is the SAM-transformed template (its resource policies take part).
    """
    requests, unknown = requests_from_recording(path, components, names)
    verdicts = check(requests, components, resource_policies(transformed, names))
    denied = [request for request, verdict in verdicts.items() if verdict != "Allowed"]
    return CheckResult(report(verdicts, components, unknown), denied, unknown, list(verdicts))


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check_recording` found: the report, the denied requests and the calls it could not read."""

    report: str
    denied: list[IamRequest]
    unknown: list[str]
    requests: list[IamRequest]  # the distinct ones, all checked


def _covers(pattern: str, action: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), action, flags=re.IGNORECASE) is not None
