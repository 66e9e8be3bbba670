"""Each component of the local world runs as ITS OWN role from template.yaml, on a moto server that enforces IAM.

On AWS every function, the training/scoring task and the web app act with the
role the stack gives them; a permission the template forgot fails there and
nowhere else. Here the same roles are made on the stand-in and assumed, so the
same call fails locally:

- :func:`sam_transform` turns the SAM template into plain CloudFormation with
  ``samtranslator`` offline, so each function's role is exactly the one SAM
  makes (its ``Policies``, plus the basic-execution and SQS-poller policies);
- :func:`create_deployer` makes, in the server's first unauthenticated calls,
  the one all-powerful user: the deployer (CloudFormation's part: it builds the
  world; the demo and the tests that start the world act as it);
- :func:`create_component_roles` creates each component's role with its
  policies resolved as CloudFormation would (:func:`resolve`), and assumes it;
  the operator (the ``dropml`` commands that join the world) gets a role with
  only the template's ``OperatorPolicy``.

The deployer stands in for the AWS services that assume roles (Lambda, ECS):
each role's trust names it instead of ``lambda.amazonaws.com`` /
``ecs-tasks.amazonaws.com`` (moto's trust check cannot take a service).

moto scopes by resource only for S3, SQS, IAM and STS; for other services it
checks a request against the resource ``*``, so a statement naming an SNS topic,
an SSM parameter or a task definition would deny everything. Such statements
are put into moto with ``Resource: *`` (actions still enforced); each
:class:`ComponentRole` keeps the exact documents for an offline policy
simulator. moto also ignores most conditions (TOOLCHAIN.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dropml.aws import Credentials
from dropml.local import world

DEPLOYER = "dropml-deployer"
RESOURCE_SCOPED_BY_MOTO = ("s3:", "sqs:", "iam:", "sts:")  # moto matches these against the real resource ARN
WEB_APP_ROLE = "WebAppRole"  # the Zappa function's role (zappa_settings.json role_arn)
TASK_ROLE_OF = "TaskRoleArn"
OPERATOR = "Operator"  # the people running the dropml CLI, with the template's OperatorPolicy
OPERATOR_POLICY = "OperatorPolicy"
SESSION_SECONDS = 12 * 3600  # the longest AWS allows: a demo left running keeps working for 12 hours


@dataclass(frozen=True)
class ComponentRole:
    """One component's role: its name on the stand-in, the exact policy documents, and credentials from assuming it."""

    component: str  # a function's logical id, "TrainingTask", "WebApp" or "Operator"
    role_logical_id: str
    role_name: str
    documents: dict[str, dict[str, Any]] = field(repr=False)  # policy name -> the document as CloudFormation makes it
    credentials: Credentials

    def environment(self) -> dict[str, str]:
        """The variables a process of this component gets, as Lambda's and ECS's runtimes set them."""
        return {
            "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
            "AWS_SESSION_TOKEN": self.credentials.session_token or "",
        }


def sam_transform(template_path: str | Path = world.TEMPLATE_PATH, region: str = "us-east-1") -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform, made offline with ``samtranslator``.

    ``CodeUri``/``ContentUri`` become S3 URIs, as ``sam package`` would make them (the transform refuses
    local paths); nothing else changes.
    """
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(Path(template_path).read_text())
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://packaged/{logical_id}"

    class _NoManagedPolicyNames:  # every managed policy in the template is named by ARN: nothing to look up
        def load(self) -> dict[str, str]:
            return {}

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # samtranslator reads the region for ARNs it makes
    try:
        return transform(template, {}, _NoManagedPolicyNames())
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def resolve(value: Any, names: dict[str, str], conditions: dict[str, Any] | None = None) -> Any:
    """``value`` with CloudFormation's intrinsics replaced: Ref, GetAtt, Sub, Join, If (and AWS::NoValue).

    ``names`` maps a Ref (``DataBucket``, ``AWS::Region``, a parameter) or a ``Logical.Attribute`` to its value;
    ``conditions`` are the template's, for ``Fn::If``.

    Raises:
        KeyError: a name the policy uses that ``names`` does not know (a new resource the local world must name).
    """
    conditions = conditions or {}
    if isinstance(value, list):
        items = [resolve(item, names, conditions) for item in value]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and (intrinsic := _INTRINSICS.get(next(iter(value)))) is not None:
        return intrinsic(next(iter(value.values())), names, conditions)
    resolved = {key: resolve(item, names, conditions) for key, item in value.items()}
    return {key: item for key, item in resolved.items() if item is not _NO_VALUE}


_NO_VALUE = object()


def _ref(name: str, names: dict[str, str], conditions: dict[str, Any]) -> Any:
    return _NO_VALUE if name == "AWS::NoValue" else names[name]


def _get_att(attribute: str | list[str], names: dict[str, str], conditions: dict[str, Any]) -> Any:
    return names[attribute if isinstance(attribute, str) else ".".join(attribute)]


def _sub(argument: str | list[Any], names: dict[str, str], conditions: dict[str, Any]) -> str:
    text, variables = (argument, {}) if isinstance(argument, str) else argument
    known = {**names, **{k: resolve(v, names, conditions) for k, v in variables.items()}}
    return re.sub(r"\$\{([^}!]+)\}", lambda m: str(known[m.group(1)]), text)


def _join(argument: list[Any], names: dict[str, str], conditions: dict[str, Any]) -> str:
    separator, parts = argument
    return str(separator).join(str(resolve(part, names, conditions)) for part in parts)


def _if(argument: list[Any], names: dict[str, str], conditions: dict[str, Any]) -> Any:
    condition, when_true, when_false = argument
    chosen = when_true if _condition(conditions[condition], names, conditions) else when_false
    return resolve(chosen, names, conditions)


_INTRINSICS = {"Ref": _ref, "Fn::GetAtt": _get_att, "Fn::Sub": _sub, "Fn::Join": _join, "Fn::If": _if}


def condition_holds(name: str, conditions: dict[str, Any], names: dict[str, str]) -> bool:
    """Whether the template condition ``name`` is true with these parameter values and names."""
    return _condition(conditions[name], names, conditions)


def _condition(expression: Any, names: dict[str, str], conditions: dict[str, Any]) -> bool:
    """Evaluate a template condition (Equals, Not, And, Or, Condition)."""
    if isinstance(expression, dict) and len(expression) == 1:
        [(name, argument)] = expression.items()
        if name == "Fn::Equals":
            left, right = (resolve(part, names, conditions) for part in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not _condition(argument[0], names, conditions)
        if name == "Fn::And":
            return all(_condition(part, names, conditions) for part in argument)
        if name == "Fn::Or":
            return any(_condition(part, names, conditions) for part in argument)
        if name == "Condition":
            return _condition(conditions[argument], names, conditions)
    raise ValueError(f"unsupported condition expression {expression!r}")


def component_role_ids(transformed: dict[str, Any]) -> dict[str, str]:
    """Component → the logical id of the role it runs as: each function's, the task's, and the web app's."""
    resources = transformed["Resources"]
    found: dict[str, str] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            found[logical_id] = properties["Role"]["Fn::GetAtt"][0]
        elif resource["Type"] == "AWS::ECS::TaskDefinition" and "Condition" not in resource:
            found["TrainingTask"] = properties[TASK_ROLE_OF]["Fn::GetAtt"][0]
    found["WebApp"] = WEB_APP_ROLE
    return found


def stack_names(transformed: dict[str, Any], built: world.World, stack: str, region: str) -> dict[str, str]:
    """What each Ref/GetAtt the roles use resolves to in the local world (CloudFormation's physical names)."""
    account = world.LOCAL_ACCOUNT
    names: dict[str, str] = {
        "AWS::StackName": stack,
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/{_key_id(stack, 'stack')}",
    }
    names.update({k: str(v.get("Default", "")) for k, v in transformed.get("Parameters", {}).items()})
    names.update(
        {
            "DataBucket": built.bucket,
            "DataBucket.Arn": f"arn:aws:s3:::{built.bucket}",
            "EventsTopic": built.topic_arn,
            "EventsTopicKey.Arn": f"arn:aws:kms:{region}:{account}:key/{_key_id(stack, 'EventsTopicKey')}",
            "Cluster": built.cluster,
            "Cluster.Arn": f"arn:aws:ecs:{region}:{account}:cluster/{built.cluster}",
        }
    )
    for logical_id, queue in built.queues.items():
        names[logical_id] = queue.url
        names[f"{logical_id}.Arn"] = queue.arn
    for logical_id, resource in transformed["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            names[f"{logical_id}.Arn"] = f"arn:aws:iam::{account}:role/{_role_name(stack, logical_id)}"
        elif kind == "AWS::IAM::ManagedPolicy":
            names[logical_id] = f"arn:aws:iam::{account}:policy/{stack}-{logical_id}"
        elif kind == "AWS::Lambda::Function":
            names[f"{logical_id}.Arn"] = f"arn:aws:lambda:{region}:{account}:function:{stack}-{logical_id}"
        elif kind == "AWS::Logs::LogGroup":
            group = resolve(resource["Properties"]["LogGroupName"], {**names, **_function_names(transformed, stack)})
            names[f"{logical_id}.Arn"] = f"arn:aws:logs:{region}:{account}:log-group:{group}:*"
    return names


def _key_id(stack: str, logical_id: str) -> str:
    """A KMS key id for a key the local world does not make (KMS ids are UUIDs; simulators check the form)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stack}/{logical_id}"))


def _function_names(transformed: dict[str, Any], stack: str) -> dict[str, str]:
    return {k: f"{stack}-{k}" for k, v in transformed["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def _role_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}"[:64]


def create_deployer(endpoint: str, region: str) -> Credentials:
    """Make the all-powerful user in the enforcing server's first (unauthenticated) calls; returns its key."""
    import boto3

    anonymous = boto3.session.Session("testing", "testing", region_name=region)
    iam = anonymous.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName=DEPLOYER)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=DEPLOYER, PolicyName="everything", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName=DEPLOYER)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def for_moto(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as moto can enforce it: statements of services it cannot scope by resource get ``*``."""
    adapted = copy.deepcopy(document)
    adapted.setdefault("Version", "2012-10-17")  # SAM's inline policies have none (AWS reads 2008-10-17); moto wants it
    for statement in adapted.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not all(a.lower().startswith(RESOURCE_SCOPED_BY_MOTO) for a in actions):
            statement["Resource"] = "*"
    return adapted


def managed_policies(transformed: dict[str, Any], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The stack's own managed policies: ARN → document, resolved as CloudFormation would."""
    conditions = transformed.get("Conditions", {})
    return {
        names[logical_id]: resolve(resource["Properties"]["PolicyDocument"], names, conditions)
        for logical_id, resource in transformed["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    }


def role_documents(
    transformed: dict[str, Any], role_id: str, names: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A role's inline policies (name → document) and the ARNs of its managed policies, resolved."""
    properties = transformed["Resources"][role_id]["Properties"]
    conditions = transformed.get("Conditions", {})
    documents = {
        p["PolicyName"]: resolve(p["PolicyDocument"], names, conditions) for p in properties.get("Policies", [])
    }
    arns = resolve(properties.get("ManagedPolicyArns", []), names, conditions)
    return documents, arns


def create_component_roles(
    transformed: dict[str, Any], names: dict[str, str], stack: str, deployer: Any
) -> dict[str, ComponentRole]:
    """Create every component's role on the stand-in as CloudFormation would, and assume each.

    The components are the template's functions, the task and the web app, and the :data:`OPERATOR`: a role
    with only the template's ``OperatorPolicy``, as a team attaches it to its people.

    ``deployer`` is a boto3 session with the deployer's credentials (the services' stand-in).
    """
    iam = deployer.client("iam")
    sts = deployer.client("sts")
    account = world.LOCAL_ACCOUNT
    managed = managed_policies(transformed, names)
    for arn, document in managed.items():
        iam.create_policy(PolicyName=arn.rsplit("/", 1)[-1], PolicyDocument=json.dumps(for_moto(document)))
    deployer_arn = f"arn:aws:iam::{account}:user/{DEPLOYER}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": deployer_arn}, "Action": "sts:AssumeRole"}],
    }
    roles: dict[str, ComponentRole] = {}
    operator = names[OPERATOR_POLICY]  # no role in the template: people attach the policy to theirs
    for component, role_id in [*component_role_ids(transformed).items(), (OPERATOR, OPERATOR_POLICY)]:
        role_name = _role_name(stack, role_id)
        iam.create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=SESSION_SECONDS
        )
        documents, arns = ({}, [operator]) if component == OPERATOR else role_documents(transformed, role_id, names)
        for policy_name, document in documents.items():
            iam.put_role_policy(
                RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(for_moto(document))
            )
        for arn in arns:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
            documents[arn] = managed.get(arn) or _aws_managed_document(iam, arn)
        role_arn = f"arn:aws:iam::{account}:role/{role_name}"
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=component, DurationSeconds=SESSION_SECONDS)
        found = assumed["Credentials"]
        roles[component] = ComponentRole(
            component=component,
            role_logical_id=role_id,
            role_name=role_name,
            documents=documents,
            credentials=Credentials(found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]),
        )
    return roles


def _aws_managed_document(iam: Any, arn: str) -> dict[str, Any]:
    """An AWS managed policy's document (moto loads them with MOTO_IAM_LOAD_MANAGED_POLICIES)."""
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return json.loads(document) if isinstance(document, str) else document
