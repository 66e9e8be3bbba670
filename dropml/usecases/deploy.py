"""The web app's Zappa stage, filled from the deployed stack's outputs (never hand-copied).

``dropml deploy zappa-settings --stack NAME`` reads ``cloudformation describe-stacks``
and writes, into one stage of ``zappa_settings.json``: the role (``role_arn`` with
``manage_roles`` false), the code bucket, the region, and the environment the app's
settings come from (bucket, topic, stack name = parameter prefix, the ECS launcher,
the Dask address, and the body limit API Gateway allows). Every other key of the
stage is kept as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dropml import aws
from dropml.errors import BadInput, NotFound

# Lambda takes at most 6 MB (6,291,456 bytes) in a synchronous invocation; with binary_support the body
# arrives base64-encoded (4/3 larger) inside an event that also carries headers and context. 4,400,000 raw
# bytes -> 5,866,668 base64 bytes leaves ~420 KB for the rest of the event.
LAMBDA_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
API_GATEWAY_MAX_BODY_BYTES = 4_400_000

# output name -> what it sets; every one of these is in template.yaml's Outputs (tests check it)
REQUIRED_OUTPUTS = (
    "StackName",
    "Region",
    "BucketName",
    "EventsTopicArn",
    "ClusterName",
    "TrainingTaskDefinitionArn",
    "TrainingContainerName",
    "TaskSubnetIds",
    "TaskSecurityGroupIds",
    "TaskAssignPublicIp",
    "WebAppRoleArn",
    "WebCodeBucketName",
)
OPTIONAL_OUTPUTS = ("DaskSchedulerAddress",)  # only when the stack runs the Dask cluster (DaskEnabled=true)


def stack_outputs(stack: str) -> dict[str, str]:
    """The outputs of the CloudFormation stack ``stack``, by output key.

    Raises:
        NotFound: no such stack (in the configured region).
    """
    from botocore.exceptions import ClientError

    try:
        stacks = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except ClientError as err:
        raise NotFound(f"stack {stack!r}: {err.response.get('Error', {}).get('Message', err)}") from err
    if not stacks:
        raise NotFound(f"stack {stack!r} does not exist")
    return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stacks[0].get("Outputs", [])}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def web_environment(outputs: dict[str, str]) -> dict[str, str]:
    """The ``DROPML__*`` variables the deployed web app needs, from the stack's outputs.

    Raises:
        BadInput: an output the web app needs is missing (names it).
    """
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise BadInput("stack outputs", missing, f"the stack lacks the outputs {missing} (is it dropml's template?)")
    environment = {
        "DROPML__STACK_NAME": outputs["StackName"],  # parameters are /<stack>/<project>/model-version
        "DROPML__STORAGE__BUCKET": outputs["BucketName"],
        "DROPML__STORAGE__REGION": outputs["Region"],
        "DROPML__NOTIFICATIONS__TOPIC_ARN": outputs["EventsTopicArn"],
        # an admin retrain on Lambda starts the Fargate task: a Lambda has no local launcher
        "DROPML__LAUNCHER__KIND": "ecs",
        "DROPML__LAUNCHER__CLUSTER": outputs["ClusterName"],
        "DROPML__LAUNCHER__TASK_DEFINITION": outputs["TrainingTaskDefinitionArn"],
        "DROPML__LAUNCHER__CONTAINER_NAME": outputs["TrainingContainerName"],
        "DROPML__LAUNCHER__SUBNETS": json.dumps(_split(outputs["TaskSubnetIds"])),
        "DROPML__LAUNCHER__SECURITY_GROUPS": json.dumps(_split(outputs["TaskSecurityGroupIds"])),
        "DROPML__LAUNCHER__ASSIGN_PUBLIC_IP": outputs["TaskAssignPublicIp"],
        "DROPML__SERVING__MAX_BODY_BYTES": str(API_GATEWAY_MAX_BODY_BYTES),
    }
    if outputs.get("DaskSchedulerAddress"):
        environment["DROPML__DASK__SCHEDULER_ADDRESS"] = outputs["DaskSchedulerAddress"]
    return environment


_FILLED_ENVIRONMENT = (
    "DROPML__STACK_NAME",
    "DROPML__STORAGE__",
    "DROPML__NOTIFICATIONS__",
    "DROPML__LAUNCHER__",
    "DROPML__DASK__SCHEDULER_ADDRESS",
    "DROPML__SERVING__MAX_BODY_BYTES",
)


def zappa_stage(stage: dict[str, Any], outputs: dict[str, str]) -> dict[str, Any]:
    """``stage`` with every stack-derived value replaced from ``outputs`` (other keys and variables kept).

    Raises:
        BadInput: an output the web app needs is missing.
    """
    kept = {k: v for k, v in stage.get("environment_variables", {}).items() if not k.startswith(_FILLED_ENVIRONMENT)}
    updated = dict(stage)
    updated["environment_variables"] = {**kept, **web_environment(outputs)}
    updated["aws_region"] = outputs["Region"]
    updated["role_arn"] = outputs["WebAppRoleArn"]
    updated["manage_roles"] = False  # the stack's least-privilege WebAppRole, not Zappa's broad default role
    updated.pop("role_name", None)
    if outputs["WebCodeBucketName"]:
        updated["s3_bucket"] = outputs["WebCodeBucketName"]
    return updated


def write_zappa_settings(path: Path, stage_name: str, stack: str) -> dict[str, Any]:
    """Fill stage ``stage_name`` of the Zappa settings file ``path`` from stack ``stack``; returns the stage.

    Raises:
        NotFound: no such stack, or no such stage in the file.
        BadInput: the stack lacks an output the web app needs.
    """
    document = json.loads(path.read_text())
    if stage_name not in document:
        raise NotFound(f"stage {stage_name!r} is not in {path} (stages: {sorted(document)})")
    document[stage_name] = zappa_stage(document[stage_name], stack_outputs(stack))
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document[stage_name]
