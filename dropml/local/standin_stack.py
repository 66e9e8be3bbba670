"""A SAM template created through the stand-in's CloudFormation, and what that CloudFormation leaves out.

CloudFormation applies the SAM transform on AWS; moto's does not, so the packaged
template is transformed here with ``samtranslator`` (the library SAM's transform is
made of) and created with ``create_stack`` (``update_stack`` when the stack exists).
moto 5.2.5's CloudFormation then creates most resources, but skips some types and
ignores some properties; :func:`complete` makes those through each service's own API,
as AWS would have, and says which (the rehearsal's report lists them):

- types it cannot create: bucket, queue and topic policies, CloudWatch alarms,
  EventBridge Scheduler schedules, SNS subscriptions (and the optional Dask cluster's
  Cloud Map and autoscaling resources, left out while ``DaskEnabled`` is false);
- properties it ignores: a bucket's ``NotificationConfiguration`` and
  ``VersioningConfiguration``, a role's ``ManagedPolicyArns``, a function's
  ``ReservedConcurrentExecutions``, a task definition's ``ExecutionRoleArn`` and
  ``TaskRoleArn`` (the IAM checks read those from the template: no API can add them
  to the revision the stack names);
- an attribute it returns differently: ``LogGroup.Arn`` without the ``:*`` AWS
  returns, so a role's policy naming it is put again with AWS's value.

The fresh account's rules that decide whether AWS would create the stack at all (a
Lambda concurrency quota, ECS's service-linked role) are applied by the caller
(:mod:`dropml.local.rehearsal`) around these steps, where AWS would apply them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropml import aws
from dropml.local import roles

IGNORED_PROPERTIES = {  # type -> properties moto's CloudFormation accepts but does not apply
    "AWS::S3::Bucket": ("NotificationConfiguration", "VersioningConfiguration"),
    "AWS::IAM::Role": ("ManagedPolicyArns",),
    "AWS::Lambda::Function": ("ReservedConcurrentExecutions",),
    "AWS::ECS::TaskDefinition": ("ExecutionRoleArn", "TaskRoleArn"),
}


@dataclass(frozen=True)
class Made:
    """One resource or property the world made because the stand-in's CloudFormation did not."""

    logical_id: str
    resource_type: str
    what: str  # "made by the world: ...", or "not made: ..." with the reason


def transform_packaged(packaged: Path, region: str) -> dict[str, Any]:
    """The packaged template (``sam package``'s output, S3 code URIs) as CloudFormation's SAM transform makes it."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class _NoManagedPolicyNames:  # every managed policy in the template is named by ARN: nothing to look up
        def load(self) -> dict[str, str]:
            return {}

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # samtranslator reads the region for the ARNs it makes
    try:
        return transform(yaml_parse(packaged.read_text()), {}, _NoManagedPolicyNames())
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def skipped_types() -> set[str]:
    """The resource types moto's CloudFormation does not create (it warns and goes on)."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return {kind for kind in _ALL_TYPES if kind not in get_model_map() and kind not in NULL_MODELS}


_ALL_TYPES = (
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::Schedule",
    "AWS::ServiceDiscovery::PrivateDnsNamespace",
    "AWS::ServiceDiscovery::Service",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
)


def create_or_update(
    stack: str, template: dict[str, Any], parameters: dict[str, str], capabilities: tuple[str, ...]
) -> str:
    """Create ``stack`` from ``template`` (update it if it exists); returns the operation's final status.

    Raises:
        RuntimeError: the stack did not reach a complete state.
    """
    from botocore.exceptions import ClientError

    cloudformation = aws.client("cloudformation")
    arguments = {
        "StackName": stack,
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": list(capabilities),
    }
    try:
        cloudformation.describe_stacks(StackName=stack)
        exists = True
    except ClientError:
        exists = False
    if exists:
        try:
            cloudformation.update_stack(**arguments)
        except ClientError as err:  # an unchanged template is not an error, as sam's --no-fail-on-empty-changeset
            if "No updates are to be performed" not in str(err):
                raise
    else:
        cloudformation.create_stack(**arguments)
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        raise RuntimeError(f"stack {stack} ended {status}")
    return status


def physical_names(stack: str, transformed: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    """What each Ref and ``Logical.Attribute`` of ``transformed`` resolves to in the created ``stack``.

    The stack's resources and parameters, the pseudo parameters, and the attributes the template uses
    (``Arn``, ``QueueName``), read back from each service as CloudFormation would return them.
    """
    cloudformation = aws.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    region = aws.client("sts").meta.region_name
    account = aws.client("sts").get_caller_identity()["Account"]
    names: dict[str, str] = {
        "AWS::StackName": stack,
        "AWS::StackId": described["StackId"],
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    names.update({k: str(v.get("Default", "")) for k, v in transformed.get("Parameters", {}).items()})
    names.update(parameters)
    for resource in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]:
        logical_id, physical = resource.get("LogicalResourceId"), resource.get("PhysicalResourceId")
        if not logical_id or physical is None:
            continue
        names[logical_id] = physical
        names.update(_attributes(logical_id, resource["ResourceType"], physical, region, account))
    return names


def _attributes(logical_id: str, kind: str, physical: str, region: str, account: str) -> dict[str, str]:
    """``Logical.Arn`` (and the like) of one created resource."""
    if kind == "AWS::SQS::Queue":
        arn = aws.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])["Attributes"]
        return {f"{logical_id}.Arn": arn["QueueArn"], f"{logical_id}.QueueName": physical.rsplit("/", 1)[-1]}
    arns = {
        "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
        "AWS::SNS::Topic": physical,
        "AWS::KMS::Key": f"arn:aws:kms:{region}:{account}:key/{physical}",
        "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{physical}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{physical}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{physical}:*",
        "AWS::ECS::Cluster": f"arn:aws:ecs:{region}:{account}:cluster/{physical}",
        "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{physical}",
    }
    return {f"{logical_id}.Arn": arns[kind]} if kind in arns else {}


def complete(stack: str, transformed: dict[str, Any], parameters: dict[str, str]) -> list[Made]:
    """Make what the stand-in's CloudFormation skipped or ignored (see the module); returns what, and how."""
    names = physical_names(stack, transformed, parameters)
    conditions = transformed.get("Conditions", {})
    skipped = skipped_types()
    made: list[Made] = []
    for logical_id, resource in transformed["Resources"].items():
        kind = resource["Type"]
        if "Condition" in resource and not roles.condition_holds(resource["Condition"], conditions, names):
            if kind in skipped:
                made.append(Made(logical_id, kind, f"not made: condition {resource['Condition']} is false"))
            continue
        raw = resource.get("Properties", {})
        if kind in skipped:
            maker = _MAKERS.get(kind)
            properties = roles.resolve(raw, names, conditions)
            what = maker(stack, logical_id, properties) if maker else "not made: no stand-in for this type"
            made.append(Made(logical_id, kind, what))
        if kind == "AWS::IAM::Role" and _names_a_log_group_arn(raw.get("Policies", []), transformed):
            for policy in roles.resolve(raw["Policies"], names, conditions):
                aws.client("iam").put_role_policy(
                    RoleName=names[logical_id],
                    PolicyName=policy["PolicyName"],
                    PolicyDocument=json.dumps(policy["PolicyDocument"]),
                )
            made.append(Made(logical_id, f"{kind} Policies", LOG_GROUP_ARN))
        for name in IGNORED_PROPERTIES.get(kind, ()):
            if name in raw:
                value = roles.resolve(raw[name], names, conditions)
                made.append(Made(logical_id, f"{kind} {name}", _PROPERTY_MAKERS[name](names[logical_id], value)))
    return made


LOG_GROUP_ARN = (
    "made again by the world: moto's GetAtt LogGroup.Arn lacks the ':*' CloudFormation returns, so a policy "
    "naming it would match no log stream"
)


def _names_a_log_group_arn(policies: Any, transformed: dict[str, Any]) -> bool:
    groups = [k for k, v in transformed["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"]
    text = json.dumps(policies)
    return any(f"{group}.Arn" in text or f'["{group}", "Arn"]' in text for group in groups)


def _bucket_policy(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    """The policy without its TLS-only Deny: the stand-in speaks HTTP, so that Deny would refuse every call.

    The IAM checks evaluate the whole policy, with every request made over TLS as boto3 makes them on AWS.
    """
    document = dict(properties["PolicyDocument"])
    kept = [s for s in document["Statement"] if not _denies_plain_http(s)]
    dropped = len(document["Statement"]) - len(kept)
    if not kept:
        return f"not made: its {dropped} statement(s) deny plain HTTP, which is all the stand-in speaks"
    aws.client("s3").put_bucket_policy(Bucket=properties["Bucket"], Policy=json.dumps({**document, "Statement": kept}))
    return f"made by the world: put_bucket_policy on {properties['Bucket']} ({dropped} TLS-only Deny left out)"


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    secure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
    return statement.get("Effect") == "Deny" and str(secure).lower() == "false"


def _queue_policy(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    for url in properties["Queues"]:
        policy = json.dumps(properties["PolicyDocument"])
        aws.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return f"made by the world: set_queue_attributes Policy on {len(properties['Queues'])} queue(s)"


def _topic_policy(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    for arn in properties["Topics"]:
        aws.client("sns").set_topic_attributes(
            TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(properties["PolicyDocument"])
        )
    return "made by the world: set_topic_attributes Policy"


def _alarm(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    name = f"{stack}-{logical_id}"
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        AlarmDescription=properties.get("AlarmDescription", ""),
        Namespace=properties["Namespace"],
        MetricName=properties["MetricName"],
        Dimensions=properties.get("Dimensions", []),
        Statistic=properties["Statistic"],
        Period=int(properties["Period"]),
        EvaluationPeriods=int(properties["EvaluationPeriods"]),
        Threshold=float(properties["Threshold"]),
        ComparisonOperator=properties["ComparisonOperator"],
        TreatMissingData=properties.get("TreatMissingData", "missing"),
        AlarmActions=properties.get("AlarmActions", []),
    )
    return f"made by the world: put_metric_alarm {name}"


def _schedule(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    optional = {
        key: properties[name]
        for key, name in (("Description", "Description"), ("ScheduleExpressionTimezone", "ScheduleExpressionTimezone"))
        if name in properties
    }
    aws.client("scheduler").create_schedule(
        Name=properties["Name"],
        ScheduleExpression=properties["ScheduleExpression"],
        FlexibleTimeWindow=properties["FlexibleTimeWindow"],
        Target=properties["Target"],
        State=properties.get("State", "ENABLED"),
        **optional,
    )
    return f"made by the world: create_schedule {properties['Name']} ({properties.get('State', 'ENABLED')})"


def _subscription(stack: str, logical_id: str, properties: dict[str, Any]) -> str:
    aws.client("sns").subscribe(
        TopicArn=properties["TopicArn"], Protocol=properties["Protocol"], Endpoint=properties["Endpoint"]
    )
    return f"made by the world: subscribe {properties['Protocol']}"


_MAKERS = {
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SNS::Subscription": _subscription,
}


def _notifications(bucket: str, configuration: dict[str, Any]) -> str:
    queues = [
        {
            "QueueArn": item["Queue"],
            "Events": [item["Event"]],
            "Filter": {"Key": {"FilterRules": item.get("Filter", {}).get("S3Key", {}).get("Rules", [])}},
        }
        for item in configuration.get("QueueConfigurations", [])
    ]
    aws.client("s3").put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
    )
    return f"made by the world: {len(queues)} S3 -> SQS notification(s)"


def _versioning(bucket: str, configuration: dict[str, Any]) -> str:
    aws.client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": configuration["Status"]})
    return f"made by the world: versioning {configuration['Status']}"


def _managed_policies(role: str, arns: list[str]) -> str:
    for arn in arns:
        aws.client("iam").attach_role_policy(RoleName=role, PolicyArn=arn)
    return f"made by the world: attached {len(arns)} managed policy(ies)"


def _reserved_concurrency(function: str, reserved: Any) -> str:
    aws.client("lambda").put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=int(reserved))
    return f"made by the world: reserved concurrency {reserved}"


def _task_role(task_definition: str, role: Any) -> str:
    return f"not made: the registered revision has no role (the IAM checks read {role} from the template)"


def resolved(transformed: dict[str, Any], names: dict[str, str], kind: str) -> dict[str, dict[str, Any]]:
    """The properties of every ``kind`` resource whose condition holds, resolved with the stack's names."""
    conditions = transformed.get("Conditions", {})
    return {
        logical_id: roles.resolve(resource.get("Properties", {}), names, conditions)
        for logical_id, resource in transformed["Resources"].items()
        if resource["Type"] == kind
        and ("Condition" not in resource or roles.condition_holds(resource["Condition"], conditions, names))
    }


_PROPERTY_MAKERS = {
    "NotificationConfiguration": _notifications,
    "VersioningConfiguration": _versioning,
    "ManagedPolicyArns": _managed_policies,
    "ReservedConcurrentExecutions": _reserved_concurrency,
    "ExecutionRoleArn": _task_role,
    "TaskRoleArn": _task_role,
}
