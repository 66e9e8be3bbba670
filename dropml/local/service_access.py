"""What AWS's own services do on the deployed stack's behalf, each checked with the IAM policy simulator.

After the deploy, the stand-in holds what CloudFormation and Zappa made. This module
reads it back and lists every authorization a service would need to run it, then asks
the simulator (``@cloud-copilot/iam-simulate``, :func:`dropml.local.iam_check.run_simulator`)
for each, with the role's trust policy as the resource policy of ``sts:AssumeRole``
and the role's policies (inline and attached) for what it then does:

- API Gateway: the integration's ``Credentials`` role (Zappa sets ``role_arn`` there)
  is assumed by ``apigateway.amazonaws.com``, then calls ``lambda:InvokeFunction``;
- EventBridge rules: a Lambda target is invoked through the function's resource
  policy, an SNS target through the topic's policy and its KMS key's policy;
- EventBridge Scheduler: each schedule's role, assumed by ``scheduler.amazonaws.com``;
- ECS: the execution role pulls the image from ECR and writes the task's log stream;
  the task role is assumed by ``ecs-tasks.amazonaws.com``;
- Lambda: each function's role, assumed by ``lambda.amazonaws.com``, writes its logs
  and, for an SQS event source mapping, receives and deletes the queue's messages;
- S3 and CloudWatch: notifications to the queues, alarms to the (encrypted) topic.

moto's API Gateway keeps no integration ``Credentials``, so they are read from the
template Zappa gave CloudFormation for its API.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dropml import aws
from dropml.local import iam_check


@dataclass(frozen=True)
class Access:
    """One authorization a service needs: who, which action on which resource, and why."""

    caller: str  # a service principal, or "<role name> (as <service>)"
    action: str
    resource: str
    why: str
    principal: str
    policies: tuple[tuple[str, str], ...] = ()  # (name, JSON document) of the caller's identity policies
    resource_policy: str | None = None  # JSON
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Decision:
    """The simulator's verdict on one :class:`Access`, and the statements that decided it."""

    access: Access
    verdict: str
    allowed_by: list[str] = field(default_factory=list)
    denied_by: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """Whether AWS would let the service do it."""
        return self.verdict == "Allowed"


def _document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict, URL-encoded JSON, JSON, or (moto's CloudFormation) a repr."""
    if isinstance(value, dict):
        return value
    text = unquote(value) if value.startswith("%7B") else value
    try:
        return dict(json.loads(text))
    except json.JSONDecodeError:
        return dict(ast.literal_eval(text))  # moto 5.2.5 stores a CloudFormation role's inline policy as str(dict)


def _json(value: Any) -> str | None:
    """A policy as JSON text, whatever form the stand-in returned it in (None stays None)."""
    return None if value is None else json.dumps(_document(value))


class _Account:
    """Reads roles and resource policies from the stand-in (cached: the checks ask for the same ones often)."""

    def __init__(self) -> None:
        self.id = aws.client("sts").get_caller_identity()["Account"]
        self.region = aws.client("sts").meta.region_name
        self._roles: dict[str, tuple[dict[str, Any], tuple[tuple[str, str], ...]]] = {}

    def role(self, arn: str) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]]:
        """A role's trust policy and its policies (inline and attached) as (name, JSON)."""
        if arn not in self._roles:
            iam = aws.client("iam")
            name = arn.rsplit("/", 1)[-1]
            trust = _document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
            policies = [
                (policy, json.dumps(_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])))
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ]
            for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
                found = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]
                policies.append((attached["PolicyName"], json.dumps(_document(found["Document"]))))
            self._roles[arn] = (trust, tuple(policies))
        return self._roles[arn]

    def function_policy(self, function: str) -> str | None:
        """A Lambda function's resource policy (None: it has none)."""
        from botocore.exceptions import ClientError

        try:
            return _json(aws.client("lambda").get_policy(FunctionName=function)["Policy"])
        except ClientError:
            return None

    def queue_policy(self, queue_arn: str) -> str | None:
        """An SQS queue's policy, by the queue's ARN."""
        name = queue_arn.rsplit(":", 1)[-1]
        url = aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        found = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
        return _json(found.get("Policy"))

    def topic(self, topic_arn: str) -> tuple[str | None, str | None]:
        """An SNS topic's policy and the ARN of its KMS key (None: not encrypted)."""
        attributes = aws.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        key = attributes.get("KmsMasterKeyId")
        if not key:
            return _json(attributes.get("Policy")), None
        key_arn = key if key.startswith("arn:") else f"arn:aws:kms:{self.region}:{self.id}:key/{key}"
        return _json(attributes.get("Policy")), key_arn

    def key_policy(self, key_arn: str) -> str:
        """A KMS key's policy."""
        return str(_json(aws.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]))

    def session(self, role_arn: str, service: str) -> str:
        """The principal of ``service``'s session in the role."""
        return f"arn:aws:sts::{self.id}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{service}"


def _context(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((f"aws:{key}", value) for key, value in values.items()))


def _assumes(account: _Account, service: str, role_arn: str, why: str, **context: str) -> Access:
    trust, _ = account.role(role_arn)
    return Access(
        caller=service,
        action="sts:AssumeRole",
        resource=role_arn,
        why=why,
        principal=service,
        resource_policy=json.dumps(trust),
        context=_context(**context),
    )


def _as_role(
    account: _Account, service: str, role_arn: str, action: str, resource: str, why: str, resource_policy: str | None
) -> Access:
    _, policies = account.role(role_arn)
    return Access(
        caller=f"{role_arn.rsplit('/', 1)[-1]} (as {service})",
        action=action,
        resource=resource,
        why=why,
        principal=account.session(role_arn, service),
        policies=policies,
        resource_policy=resource_policy,
    )


def _as_service(
    account: _Account, service: str, action: str, resource: str, why: str, policy: str | None, source_arn: str
) -> Access:
    return Access(
        caller=service,
        action=action,
        resource=resource,
        why=why,
        principal=service,
        resource_policy=policy,
        context=_context(SourceArn=source_arn, SourceAccount=account.id),
    )


def _publishes(account: _Account, service: str, topic_arn: str, source_arn: str, why: str) -> list[Access]:
    """A service publishing to a topic: the topic's policy, and its KMS key's policy when it is encrypted."""
    policy, key_arn = account.topic(topic_arn)
    found = [_as_service(account, service, "sns:Publish", topic_arn, why, policy, source_arn)]
    if key_arn:
        key_policy = account.key_policy(key_arn)
        for action in ("kms:GenerateDataKey", "kms:Decrypt"):
            found.append(
                _as_service(account, service, action, key_arn, why + " (encrypted topic)", key_policy, source_arn)
            )
    return found


_INTEGRATION_URI = re.compile(r"/functions/(arn:aws:lambda:[^/]+)/invocations")


def api_gateway(account: _Account, api_stack: str) -> list[Access]:
    """Each REST API method's integration: its credentials role assumed by API Gateway, then the invoke."""
    body = aws.client("cloudformation").get_template(StackName=api_stack)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    found: dict[tuple[str | None, str], list[Access]] = {}
    for resource in template.get("Resources", {}).values():
        integration = resource.get("Properties", {}).get("Integration", {})
        match = _INTEGRATION_URI.search(json.dumps(integration.get("Uri", "")))
        if resource.get("Type") != "AWS::ApiGateway::Method" or not match:
            continue
        function, credentials = match.group(1), integration.get("Credentials")
        if (credentials, function) in found:
            continue
        why = f"a request through the API reaches {':'.join(function.split(':')[6:])}"
        if credentials:
            found[credentials, function] = [
                _assumes(account, "apigateway.amazonaws.com", credentials, why + " (integration credentials)"),
                _as_role(
                    account, "apigateway.amazonaws.com", credentials, "lambda:InvokeFunction", function, why,
                    account.function_policy(function),
                ),
            ]  # fmt: skip
        else:
            source = f"arn:aws:execute-api:{account.region}:{account.id}:*"
            policy = account.function_policy(function)
            invoke = _as_service(
                account, "apigateway.amazonaws.com", "lambda:InvokeFunction", function, why, policy, source
            )
            found[credentials, function] = [invoke]
    return [access for accesses in found.values() for access in accesses]


def event_rules(account: _Account) -> list[Access]:
    """Each EventBridge rule's targets: a function through its resource policy, a topic through its policies."""
    events = aws.client("events")
    found: list[Access] = []
    for rule in events.list_rules()["Rules"]:
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            why = f"rule {rule['Name']} fires"
            if target.get("RoleArn"):
                found.append(_assumes(account, "events.amazonaws.com", target["RoleArn"], why))
            elif ":lambda:" in target["Arn"]:
                policy = account.function_policy(target["Arn"])
                found.append(
                    _as_service(
                        account, "events.amazonaws.com", "lambda:InvokeFunction", target["Arn"], why, policy,
                        rule["Arn"],
                    )
                )  # fmt: skip
            elif ":sns:" in target["Arn"]:
                found += _publishes(account, "events.amazonaws.com", target["Arn"], rule["Arn"], why)
    return found


def schedules(account: _Account) -> list[Access]:
    """Each EventBridge Scheduler schedule: its role assumed by the scheduler, then the target invoked."""
    scheduler = aws.client("scheduler")
    found: list[Access] = []
    for summary in scheduler.list_schedules()["Schedules"]:
        schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
        target, why = schedule["Target"], f"schedule {summary['Name']} ({schedule.get('State', '?')}) fires"
        source = f"arn:aws:scheduler:{account.region}:{account.id}:schedule/default/{summary['Name']}"
        found.append(
            _assumes(
                account, "scheduler.amazonaws.com", target["RoleArn"], why, SourceAccount=account.id, SourceArn=source
            )
        )
        found.append(
            _as_role(
                account, "scheduler.amazonaws.com", target["RoleArn"], "lambda:InvokeFunction", target["Arn"], why,
                account.function_policy(target["Arn"]),
            )
        )  # fmt: skip
    return found


def ecs_tasks(account: _Account, task_definitions: list[dict[str, Any]]) -> list[Access]:
    """Each task definition (its template properties): the execution role pulls the image and writes logs; the
    task role is assumed (moto's CloudFormation registers them without their roles)."""
    found: list[Access] = []
    for definition in task_definitions:
        family = definition.get("Family", "?")
        execution, task = definition.get("ExecutionRoleArn"), definition.get("TaskRoleArn")
        if execution:
            why = f"ECS starts a {family} task"
            found.append(_assumes(account, "ecs-tasks.amazonaws.com", execution, why, SourceAccount=account.id))
            found.append(
                _as_role(account, "ecs-tasks.amazonaws.com", execution, "ecr:GetAuthorizationToken", "*", why, None)
            )
            for container in definition.get("ContainerDefinitions", []):
                found += _pulls_and_logs(account, execution, container, why)
        if task:
            why = f"a {family} task gets its credentials"
            found.append(_assumes(account, "ecs-tasks.amazonaws.com", task, why, SourceAccount=account.id))
    return found


def _pulls_and_logs(account: _Account, execution: str, container: dict[str, Any], why: str) -> list[Access]:
    found: list[Access] = []
    registry, _, repository = str(container["Image"]).partition("/")
    if ".dkr.ecr." in registry:
        repository_arn = f"arn:aws:ecr:{account.region}:{registry.split('.')[0]}:repository/{repository.split(':')[0]}"
        for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
            found.append(_as_role(account, "ecs-tasks.amazonaws.com", execution, action, repository_arn, why, None))
    options = container.get("LogConfiguration", {}).get("Options", {})
    if "awslogs-group" in options:
        stream = f"{options.get('awslogs-stream-prefix', 'ecs')}/{container['Name']}/0123456789abcdef"
        resource = (
            f"arn:aws:logs:{account.region}:{account.id}:log-group:{options['awslogs-group']}:log-stream:{stream}"
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            found.append(_as_role(account, "ecs-tasks.amazonaws.com", execution, action, resource, why, None))
    return found


def functions(account: _Account, names: list[str]) -> list[Access]:
    """Each function's role: assumed by Lambda, writing its log group, and polling its SQS event sources."""
    client = aws.client("lambda")
    found: list[Access] = []
    for name in names:
        configuration = client.get_function_configuration(FunctionName=name)
        role, why = configuration["Role"], f"Lambda runs {name}"
        found.append(_assumes(account, "lambda.amazonaws.com", role, why))
        group = f"arn:aws:logs:{account.region}:{account.id}:log-group:/aws/lambda/{name}:log-stream:2026/01/01/x"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            found.append(_as_role(account, "lambda.amazonaws.com", role, action, group, why, None))
        for mapping in client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]:
            queue = mapping["EventSourceArn"]
            if ":sqs:" not in queue:
                continue
            policy = account.queue_policy(queue)
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                reason = f"the event source mapping polls {queue.rsplit(':', 1)[-1]} for {name}"
                found.append(_as_role(account, "lambda.amazonaws.com", role, action, queue, reason, policy))
    return found


def bucket_notifications(account: _Account, bucket: str) -> list[Access]:
    """S3 sending the bucket's notifications to each queue (the queue's policy decides)."""
    configuration = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    found: list[Access] = []
    for queue in {item["QueueArn"] for item in configuration.get("QueueConfigurations", [])}:
        why = f"an upload to s3://{bucket} is announced to {queue.rsplit(':', 1)[-1]}"
        policy = account.queue_policy(queue)
        found.append(
            _as_service(account, "s3.amazonaws.com", "sqs:SendMessage", queue, why, policy, f"arn:aws:s3:::{bucket}")
        )
    return found


def alarms(account: _Account) -> list[Access]:
    """CloudWatch alarms publishing to their (encrypted) topics."""
    found: list[Access] = []
    for alarm in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]:
        for action in alarm.get("AlarmActions", []):
            if ":sns:" in action:
                why = f"alarm {alarm['AlarmName']} goes off"
                found += _publishes(account, "cloudwatch.amazonaws.com", action, alarm["AlarmArn"], why)
    return found


def decide(accesses: list[Access]) -> list[Decision]:
    """The simulator's verdict on each access (one run of the simulator for all)."""
    payload = [
        {
            "principal": access.principal,
            "action": access.action,
            "resource": access.resource,
            "context": {"aws:SecureTransport": "true", **dict(access.context)},
            "policies": [{"name": name, "policy": json.loads(document)} for name, document in access.policies],
            "resourcePolicy": json.loads(access.resource_policy) if access.resource_policy else None,
            "explain": True,
        }
        for access in accesses
    ]
    verdicts = iam_check.run_simulator(payload) if payload else []
    decisions = []
    for access, verdict in zip(accesses, verdicts, strict=True):
        if isinstance(verdict, str):  # the simulator refused the request itself
            decisions.append(Decision(access, verdict))
        else:
            decisions.append(Decision(access, verdict["result"], verdict["allowedBy"], verdict["deniedBy"]))
    return decisions


def check_stack(stack: str, web_function: str | None, task_definitions: list[dict[str, Any]]) -> list[Decision]:
    """Every service access the deployed ``stack`` (and Zappa's web function) needs, decided by the simulator.

    ``task_definitions`` are the template's, resolved (:func:`dropml.local.standin_stack.resolved`).
    """
    account = _Account()
    resources = aws.client("cloudformation").describe_stack_resources(StackName=stack)["StackResources"]
    by_type: dict[str, list[str]] = {}
    for resource in resources:
        if resource.get("PhysicalResourceId"):
            by_type.setdefault(resource["ResourceType"], []).append(resource["PhysicalResourceId"])
    function_names = by_type.get("AWS::Lambda::Function", []) + ([web_function] if web_function else [])
    accesses = [
        *(api_gateway(account, web_function) if web_function else []),
        *event_rules(account),
        *schedules(account),
        *ecs_tasks(account, task_definitions),
        *functions(account, function_names),
        *[access for bucket in by_type.get("AWS::S3::Bucket", []) for access in bucket_notifications(account, bucket)],
        *alarms(account),
    ]
    return decide(accesses)
