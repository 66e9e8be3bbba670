"""The web app's Zappa stage, filled from the deployed stack's outputs (never hand-copied).

``dropml deploy zappa-settings --stack NAME`` reads ``cloudformation describe-stacks``
(:mod:`dropml.stacks`) and writes, into one stage of ``zappa_settings.json``: the
role (``role_arn`` with ``manage_roles`` false), the code bucket, the region, and into
``aws_environment_variables`` (the function's Lambda configuration, not the package) the
settings the app reads (bucket, topic, stack name = parameter prefix, the ECS launcher,
the body and answer limits of API Gateway and Lambda). The package then depends on the
code only, so one build deploys to any stack. Every other key of the stage is kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dropml import aws_names as names
from dropml.errors import BadInput, NotFound
from dropml.stacks import OPTIONAL_OUTPUTS, REQUIRED_OUTPUTS, stack_environment, stack_outputs

__all__ = ["OPTIONAL_OUTPUTS", "REQUIRED_OUTPUTS", "stack_outputs"]

# Lambda takes at most 6 MB (6,291,456 bytes) in a synchronous invocation, request and response alike; with
# binary_support the body arrives base64-encoded (4/3 larger) inside an event that also carries headers and
# context. 4,400,000 raw bytes -> 5,866,668 base64 bytes leaves ~420 KB for the rest of the event.
LAMBDA_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
API_GATEWAY_MAX_BODY_BYTES = 4_400_000
# an answer is the body Zappa returns inside its JSON response (escaped text or base64) plus status and headers
LAMBDA_MAX_ANSWER_BYTES = LAMBDA_INVOKE_PAYLOAD_BYTES - 64 * 1024
LAMBDA_ENVIRONMENT_BYTES = 4 * 1024  # Lambda's limit for all of a function's environment variables together


def web_environment(outputs: dict[str, str]) -> dict[str, str]:
    """The ``DROPML__*`` variables the deployed web app needs, from the stack's outputs.

    No Dask scheduler address: the function runs outside the VPC and the scheduler's security group admits only
    its own members, so a batch would wait for a connection that never comes; the app scores in its process.

    Raises:
        BadInput: an output the web app needs is missing (names it).
    """
    return {
        **stack_environment(outputs),
        "DROPML__SERVING__MAX_BODY_BYTES": str(API_GATEWAY_MAX_BODY_BYTES),
        "DROPML__SERVING__MAX_ANSWER_BYTES": str(LAMBDA_MAX_ANSWER_BYTES),
    }


_FILLED_ENVIRONMENT = (
    "DROPML__STACK_NAME",
    "DROPML__STORAGE__",
    "DROPML__NOTIFICATIONS__",
    "DROPML__LAUNCHER__",
    "DROPML__DASK__SCHEDULER_ADDRESS",
    "DROPML__SERVING__MAX_BODY_BYTES",
    "DROPML__SERVING__MAX_ANSWER_BYTES",
)


def _unfilled(variables: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in variables.items() if not k.startswith(_FILLED_ENVIRONMENT)}


def zappa_stage(stage: dict[str, Any], outputs: dict[str, str]) -> dict[str, Any]:
    """``stage`` with every stack-derived value replaced from ``outputs`` (other keys and variables kept).

    The stack's settings go to ``aws_environment_variables`` (Lambda's configuration) and leave
    ``environment_variables`` (written into the package). ``touch`` is off: ``dropml deploy`` sends its own
    smoke request and fails on a bad answer, where Zappa's touch only warns.

    Raises:
        BadInput: an output the web app needs is missing, the stack names no valid code bucket, or the
            variables exceed Lambda's 4 KB.
    """
    bucket = outputs.get("WebCodeBucketName", "")
    if not bucket:
        raise BadInput(
            "WebCodeBucketName",
            bucket,
            "the stack names no code bucket for Zappa (its WebCodeBucket parameter is empty): deploy with "
            "`make deploy`, which passes its deploy bucket, or pass WebCodeBucket=<bucket> to sam deploy",
        )
    names.check_bucket_name(bucket, "WebCodeBucketName")
    lambda_environment = {**_unfilled(stage.get("aws_environment_variables", {})), **web_environment(outputs)}
    size = sum(len(k) + len(v) for k, v in lambda_environment.items())
    if size > LAMBDA_ENVIRONMENT_BYTES:
        raise BadInput(
            "aws_environment_variables", size, f"{size} bytes of variables: Lambda takes {LAMBDA_ENVIRONMENT_BYTES}"
        )
    updated = dict(stage)
    updated["environment_variables"] = _unfilled(stage.get("environment_variables", {}))
    updated["aws_environment_variables"] = lambda_environment
    updated["aws_region"] = outputs["Region"]
    updated["role_arn"] = outputs["WebAppRoleArn"]
    updated["manage_roles"] = False  # the stack's least-privilege WebAppRole, not Zappa's broad default role
    updated.pop("role_name", None)
    updated["s3_bucket"] = bucket
    updated["touch"] = False
    return updated


def write_zappa_settings(path: Path, stage_name: str, stack: str) -> dict[str, Any]:
    """Fill stage ``stage_name`` of the Zappa settings file ``path`` from stack ``stack``; returns the stage.

    Raises:
        NotFound: no such stack, or no such stage in the file.
        BadInput: the stack lacks an output the web app needs, or names no valid code bucket.
    """
    document = json.loads(path.read_text())
    if stage_name not in document:
        raise NotFound(f"stage {stage_name!r} is not in {path} (stages: {sorted(document)})")
    document[stage_name] = zappa_stage(document[stage_name], stack_outputs(stack))
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document[stage_name]
