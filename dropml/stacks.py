"""A deployed dropml stack: its outputs, and the settings that point dropml at it.

``sam`` finds its stack from ``samconfig.toml``; dropml finds its from ``--stack NAME`` or ``DROPML_STACK``:
``cloudformation describe-stacks`` gives the bucket, region, topic, cluster, task definition and the tasks'
network, and :func:`stack_environment` turns them into the ``DROPML__*`` settings every process reads. The CLI
applies them (``dropml --stack prod train ...`` uploads to the stack's bucket and starts its ECS task) and
``dropml deploy zappa-settings`` writes them into the web app's Lambda configuration, so both read one stack
the same way.
"""

from __future__ import annotations

import json

from dropml import aws, connection
from dropml.errors import BadInput, NotFound

STACK_ENV = "DROPML_STACK"
REGION_ENV = "DROPML__STORAGE__REGION"

# every output dropml reads; template.yaml declares each (tests check it)
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
    """The outputs of the CloudFormation stack ``stack`` in the configured region, by output key.

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


def stack_environment(outputs: dict[str, str]) -> dict[str, str]:
    """The ``DROPML__*`` settings of a process that works on this stack: storage, topic and the ECS launcher.

    Raises:
        BadInput: an output dropml needs is missing (names it).
    """
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise BadInput("stack outputs", missing, f"the stack lacks the outputs {missing} (is it dropml's template?)")
    return {
        "DROPML__STACK_NAME": outputs["StackName"],  # parameters are /<stack>/<project>/model-version
        "DROPML__STORAGE__BUCKET": outputs["BucketName"],
        REGION_ENV: outputs["Region"],
        "DROPML__NOTIFICATIONS__TOPIC_ARN": outputs["EventsTopicArn"],
        # a job starts as the stack's Fargate task: in the cloud there is no local launcher
        "DROPML__LAUNCHER__KIND": "ecs",
        "DROPML__LAUNCHER__CLUSTER": outputs["ClusterName"],
        "DROPML__LAUNCHER__TASK_DEFINITION": outputs["TrainingTaskDefinitionArn"],
        "DROPML__LAUNCHER__CONTAINER_NAME": outputs["TrainingContainerName"],
        "DROPML__LAUNCHER__SUBNETS": json.dumps(_split(outputs["TaskSubnetIds"])),
        "DROPML__LAUNCHER__SECURITY_GROUPS": json.dumps(_split(outputs["TaskSecurityGroupIds"])),
        "DROPML__LAUNCHER__ASSIGN_PUBLIC_IP": outputs["TaskAssignPublicIp"],
    }


def use_stack(stack: str, region: str | None = None) -> dict[str, str]:
    """Point this process (and those it starts) at the deployed ``stack``; returns the settings applied.

    Raises:
        NotFound: no such stack in ``region`` (default: the configured one).
        BadInput: the stack lacks an output dropml needs.
    """
    if region:
        connection.use_environment({REGION_ENV: region})
    environment = stack_environment(stack_outputs(stack))
    connection.use_environment(environment)
    return environment
