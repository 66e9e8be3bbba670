"""The local world, built on the moto server from template.yaml itself, so local and cloud cannot drift.

:func:`load_template` reads the SAM template (``!Ref``, ``!GetAtt``, ``!Sub`` ... become
their ``{"Ref": ...}`` forms); :func:`build` creates what the template declares on
the stand-in: every SQS queue with its DLQ and redrive policy, the bucket with
the same prefix/suffix notification filters, the SSM parameter(s), the SNS
topic, the ECS cluster and the task definition. It also says which function
consumes which queue, so the local poller calls the same handlers.

Physical names locally: the bucket, cluster and task family come from config
(which the template's naming matches for stack ``dropml``), the topic and the
parameter from the template's names; a queue is named ``<stack>-<LogicalId>``,
CloudFormation's name without its random suffix, so :mod:`dropml.queues`
finds the stack's queues by the same rule in both worlds. The topic's ARN is
not known to config in advance (in the cloud the stack passes it): building
points config at it through ``DROPML__NOTIFICATIONS__TOPIC_ARN``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dropml import aws, connection, notify
from dropml.config import settings
from dropml.local.moto_server import ensure_bucket

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
LOCAL_ACCOUNT = "123456789012"
LOCAL_VISIBILITY_TIMEOUT = 2  # seconds: a failed message comes back quickly, so redrive to the DLQ is quick
_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "GetAtt",
            "Sub",
            "Join",
            "If",
            "Equals",
            "Not",
            "And",
            "Or",
            "Select",
            "Split",
            "FindInMap",
            "Base64",
            "Cidr",
            "ImportValue",
            "GetAZs",
            "Transform",
            "Contains",  # Rules functions (template Rules: Assertions)
            "EachMemberEquals",
            "EachMemberIn",
            "RefAll",
            "ValueOf",
            "ValueOfAll",
        )
    },
}


class _TemplateLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short intrinsic-function tags."""


def _construct_intrinsic(loader: _TemplateLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _SHORT_TAGS.get(tag_suffix)
    if name is None:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{tag_suffix}", node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: str | Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template, short tags included (parsed once per path: treat it as read-only)."""
    return _parse_template(Path(path).resolve())


@functools.cache
def _parse_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


# ── reading the template ──────────────────────────────────────────────────────


@dataclass(frozen=True)
class QueueSpec:
    """A queue the template declares, with its redrive policy."""

    logical_id: str
    properties: dict[str, Any]
    dead_letter_queue: str | None = None  # logical id
    max_receive_count: int | None = None


@dataclass(frozen=True)
class NotificationSpec:
    """One S3 → SQS notification: events, the target queue and the key filter."""

    queue: str  # logical id
    event: str
    prefix: str | None
    suffix: str | None


@dataclass(frozen=True)
class FunctionSpec:
    """A function and the queue it consumes (its SQS event source)."""

    logical_id: str
    code_uri: str
    handler: str
    queue: str  # logical id
    batch_size: int


def _logical(ref: Any) -> str:
    """The logical id an ``!Ref X`` or ``!GetAtt X.Arn`` points at."""
    if isinstance(ref, dict) and "Ref" in ref:
        return str(ref["Ref"])
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        return str(ref["Fn::GetAtt"][0])
    raise ValueError(f"expected !Ref or !GetAtt, got {ref!r}")


def _resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type; conditional ones (the optional Dask cluster, the e-mail
    subscription) are off with the default parameters, so the local world leaves them out."""
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == resource_type and "Condition" not in v}


def queue_specs(template: dict[str, Any]) -> list[QueueSpec]:
    """Every SQS queue of the template."""
    found = []
    for logical_id, resource in _resources(template, "AWS::SQS::Queue").items():
        props = resource.get("Properties", {})
        redrive = props.get("RedrivePolicy")
        found.append(
            QueueSpec(
                logical_id=logical_id,
                properties=props,
                dead_letter_queue=_logical(redrive["deadLetterTargetArn"]) if redrive else None,
                max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
            )
        )
    return found


def notification_specs(template: dict[str, Any]) -> list[NotificationSpec]:
    """Every S3 → SQS notification of the template's bucket(s)."""
    found = []
    for resource in _resources(template, "AWS::S3::Bucket").values():
        config = resource.get("Properties", {}).get("NotificationConfiguration", {})
        for item in config.get("QueueConfigurations", []):
            rules = {r["Name"].lower(): r["Value"] for r in item.get("Filter", {}).get("S3Key", {}).get("Rules", [])}
            found.append(
                NotificationSpec(_logical(item["Queue"]), item["Event"], rules.get("prefix"), rules.get("suffix"))
            )
    return found


def function_specs(template: dict[str, Any]) -> list[FunctionSpec]:
    """Every function with an SQS event source, and which queue it reads."""
    globals_ = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in _resources(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties", {})
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS":
                found.append(
                    FunctionSpec(
                        logical_id=logical_id,
                        code_uri=props["CodeUri"],
                        handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                        queue=_logical(event["Properties"]["Queue"]),
                        batch_size=int(event["Properties"].get("BatchSize", 10)),
                    )
                )
    return found


def _sub(template: dict[str, Any], value: Any, stack: str) -> str:
    """Resolve a plain string or a ``!Sub`` with the stack name, region, account and parameter defaults."""
    if isinstance(value, str):
        return value
    text = value["Fn::Sub"]
    variables: dict[str, Any] = {}
    if isinstance(text, list):
        text, variables = text
    known = {
        "AWS::StackName": stack,
        "AWS::Region": settings().storage.region,
        "AWS::AccountId": LOCAL_ACCOUNT,
        "AWS::Partition": "aws",
    }
    known.update({k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()})
    known.update({k: str(v) for k, v in variables.items() if isinstance(v, str | int)})
    return re.sub(r"\$\{([^}]+)\}", lambda m: known[m.group(1)], text)


# ── building it on the stand-in ───────────────────────────────────────────────


@dataclass
class Queue:
    """A local queue: its URL and ARN, and its DLQ's URL."""

    logical_id: str
    url: str
    arn: str
    dead_letter_url: str | None = None
    max_receive_count: int | None = None


@dataclass
class World:
    """What :func:`build` created, by logical id."""

    bucket: str
    queues: dict[str, Queue] = field(default_factory=dict)
    functions: list[FunctionSpec] = field(default_factory=list)
    topic_arn: str = ""
    parameters: list[str] = field(default_factory=list)
    cluster: str = ""
    task_definition: str = ""
    subnets: list[str] = field(default_factory=list)  # where tasks run: the stand-in's default VPC
    security_groups: list[str] = field(default_factory=list)

    def queue_for(self, function_logical_id: str) -> Queue:
        """The queue a function consumes."""
        spec = next(f for f in self.functions if f.logical_id == function_logical_id)
        return self.queues[spec.queue]


def _create_queues(template: dict[str, Any], visibility_timeout: int) -> dict[str, Queue]:
    sqs = aws.client("sqs")
    specs = queue_specs(template)
    queues: dict[str, Queue] = {}
    # dead-letter queues first: a redrive policy names its DLQ's ARN
    for spec in sorted(specs, key=lambda s: s.dead_letter_queue is not None):
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if "MessageRetentionPeriod" in spec.properties:
            attributes["MessageRetentionPeriod"] = str(spec.properties["MessageRetentionPeriod"])
        if spec.dead_letter_queue:
            dlq = queues[spec.dead_letter_queue]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": spec.max_receive_count}
            )
        name = f"{settings().stack_name}-{spec.logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[spec.logical_id] = Queue(
            spec.logical_id,
            url,
            arn,
            dead_letter_url=queues[spec.dead_letter_queue].url if spec.dead_letter_queue else None,
            max_receive_count=spec.max_receive_count,
        )
    return queues


def _configure_bucket(template: dict[str, Any], queues: dict[str, Queue]) -> str:
    name = ensure_bucket()
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    configurations = []
    for index, spec in enumerate(notification_specs(template)):
        rules = [{"Name": n, "Value": v} for n, v in (("prefix", spec.prefix), ("suffix", spec.suffix)) if v]
        configurations.append(
            {
                "Id": f"{spec.queue}-{index}",
                "QueueArn": queues[spec.queue].arn,
                "Events": [spec.event],
                "Filter": {"Key": {"FilterRules": rules}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"QueueConfigurations": configurations}
    )
    return name


def _create_parameters(template: dict[str, Any]) -> list[str]:
    ssm = aws.client("ssm")
    names = []
    for resource in _resources(template, "AWS::SSM::Parameter").values():
        props = resource["Properties"]
        name = _sub(template, props["Name"], settings().stack_name)
        with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):  # keep a rebuilt world's live version
            ssm.put_parameter(Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"))
        names.append(name)
    return names


def _create_ecs(template: dict[str, Any]) -> tuple[str, str]:
    ecs = aws.client("ecs")
    conf = settings().launcher
    cluster = ecs.create_cluster(clusterName=conf.cluster)["cluster"]["clusterName"]
    family = ""
    for resource in _resources(template, "AWS::ECS::TaskDefinition").values():
        props = resource["Properties"]
        containers = [
            {
                "name": c["Name"],
                "image": "dropml-training:local",
                "essential": True,
                "memory": 2048,  # container-level memory: moto's run_task needs it (TOOLCHAIN.md)
                "command": [str(part) for part in c.get("Command", [])],
            }
            for c in props["ContainerDefinitions"]
        ]
        family = ecs.register_task_definition(
            family=_sub(template, props["Family"], settings().stack_name),
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=containers,
        )["taskDefinition"]["family"]
    return cluster, family


def default_network() -> tuple[list[str], list[str]]:
    """A subnet and the security group of the stand-in's default VPC: what a user passes the stack for tasks."""
    ec2 = aws.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    subnet = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    return [subnet["SubnetId"]], [groups[0]["GroupId"]]


def create_topic(template_path: str | Path = TEMPLATE_PATH) -> str:
    """Create the template's SNS topic and point this process's config at it; returns its ARN.

    In the cloud the stack passes its topic's ARN to every function and task
    (``notifications.topic_arn``); locally this does the same through the
    environment, which the processes this one starts inherit.

    Raises:
        ValueError: the template declares no topic, or more than one.
    """
    template = load_template(template_path)
    topics = list(_resources(template, "AWS::SNS::Topic").values())
    if len(topics) != 1:
        raise ValueError(f"expected one SNS topic in the template (got {len(topics)})")
    name = _sub(template, topics[0]["Properties"]["TopicName"], settings().stack_name)
    arn = str(aws.client("sns").create_topic(Name=name)["TopicArn"])
    connection.use_environment({notify.TOPIC_ARN_ENV: arn})
    return arn


def build(template_path: str | Path = TEMPLATE_PATH, visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT) -> World:
    """Create the template's resources on the stand-in the storage clients point at (idempotent)."""
    template = load_template(template_path)
    queues = _create_queues(template, visibility_timeout)
    bucket = _configure_bucket(template, queues)
    parameters = _create_parameters(template)
    topic_arn = create_topic(template_path)
    cluster, family = _create_ecs(template)
    subnets, security_groups = default_network()
    return World(
        bucket=bucket,
        queues=queues,
        functions=function_specs(template),
        topic_arn=topic_arn,
        parameters=parameters,
        cluster=cluster,
        task_definition=family,
        subnets=subnets,
        security_groups=security_groups,
    )
