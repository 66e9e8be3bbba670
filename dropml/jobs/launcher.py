"""Start a training, scoring or monitoring job: an ECS Fargate task in the cloud, a local process in the local world.

Both run the same entry point, ``python -m training_job.main <job> --key ...``
(the image's ENTRYPOINT is ``python -m training_job.main``, so the task's
command override is just the arguments; the training image scores too, so the
scikit-learn that trains is the one that scores). Which one is configuration
(``launcher.kind``), never code: :func:`launch` hands the job to the starter
registered for that kind. ``ecs`` is built in; ``local`` is registered by the
local world (:mod:`dropml.local.jobs`) in its own processes only, so a process
configured ``local`` anywhere else (a Lambda function, a deployed web app)
refuses to launch instead of starting a process nobody runs.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from dropml import aws
from dropml.config import settings
from dropml.errors import BadInput, ConfigError, DropmlError
from dropml.jobs.job import DATA_KIND, JOBS, Job
from dropml.storage import keys

logger = logging.getLogger(__name__)

JOB_MODULE = "training_job.main"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STARTED_BY_LIMIT = 36  # ECS refuses a longer startedBy
JOB_EXIT_CODES = frozenset({0, 1, 2})  # the job announced these itself: success, unexpected failure, bad input
# (a usage error, exit 64, happens before the job can announce anything: the watcher and the ECS rule announce it)
# every training/scoring task runs in this ECS task group: template.yaml's JobDiedRule announces only its deaths
# (a Dask scheduler's or worker's task, in its service's group, is not a job)
JOB_TASK_GROUP = "dropml-job"
STARTER_PLUGINS = "dropml.launchers"  # entry point group: launcher kind → starter, declared by installed packages


class LaunchFailed(DropmlError):
    """The job could not be started (ECS refused the task, the process did not start, no starter for the kind)."""

    code = "launch_failed"


@dataclass(frozen=True)
class LaunchRequest:
    """One job to start: what it is, its run id, the entry point's arguments and the environment it gets."""

    job: Job
    key: str
    run_id: str
    arguments: list[str]
    environment: dict[str, str]


Starter = Callable[[LaunchRequest], str]  # starts the job; returns what identifies it (a task ARN, local:<pid>)
_starters: dict[str, Starter] = {}


def register(kind: str, starter: Starter) -> None:
    """Start the jobs of processes configured ``launcher.kind == kind`` with ``starter`` (replaces an earlier one)."""
    _starters[kind] = starter


def unregister(kind: str) -> None:
    """Forget the starter of ``kind`` (the local world stopping; idempotent)."""
    _starters.pop(kind, None)


def register_installed(kind: str) -> bool:
    """Register the starter an installed package declares for ``kind`` (entry point group ``dropml.launchers``).

    For a process that joins a running local world from outside it (the
    ``dropml`` CLI finding ``dropml local up``); returns False if no package
    declares one. Nothing in the cloud calls it.
    """
    if kind in _starters:
        return True
    for entry in entry_points(group=STARTER_PLUGINS, name=kind):
        register(kind, entry.load())
        return True
    return False


def job_arguments(job: Job, key: str, overrides: dict[str, Any] | None, run_id: str) -> list[str]:
    """The arguments of ``training_job.main`` for one job.

    Raises:
        BadInput: an unknown job, a key outside the job's prefix, or overrides for scoring.
    """
    if job == "monitor":
        keys.parse_monitoring_day_key(key)
        if overrides:
            raise BadInput("overrides", overrides, "monitoring takes no overrides")
        return ["monitor", "--key", key, "--run-id", run_id]
    if job not in DATA_KIND:
        raise BadInput("job", job, f"job must be one of {sorted(JOBS)} (got {job!r})")
    keys.project_of(key, kind=DATA_KIND[job])  # a dataset key (datasets/<p>/) trains too
    if job == "train":
        arguments = ["train", "--key", key, "--run-id", run_id]
        if overrides:
            arguments += ["--overrides", json.dumps(overrides, sort_keys=True)]
        return arguments
    if overrides:
        raise BadInput("overrides", overrides, "scoring takes no overrides")
    return ["score", "--key", key, "--request-id", run_id]


def launch(job: Job, key: str, overrides: dict[str, Any] | None = None, correlation_id: str | None = None) -> str:
    """Start ``job`` on ``key`` with the starter of ``launcher.kind``; returns the task ARN or ``local:<pid>``.

    ``correlation_id`` (if key-safe) is also the run/request id, so a retried
    launch of the same event produces the same run.

    Raises:
        BadInput: see :func:`job_arguments`.
        ConfigError: the ECS launcher has no subnets configured.
        LaunchFailed: ECS refused the task, the process could not start, or this
            process has no starter for ``launcher.kind`` (``local`` outside the local world).
    """
    run_id = correlation_id if correlation_id and _RUN_ID.match(correlation_id) else f"{job}-{uuid.uuid4().hex[:16]}"
    request = LaunchRequest(
        job=job,
        key=key,
        run_id=run_id,
        arguments=job_arguments(job, key, overrides, run_id),
        environment={"DROPML_CORRELATION_ID": correlation_id or run_id, "DROPML_JOB": job},
    )
    kind = settings().launcher.kind
    starter = _starters.get(kind)
    if starter is None:
        raise LaunchFailed(
            f"launcher.kind is {kind!r} (config.json or DROPML__LAUNCHER__KIND), but this process has no {kind!r} "
            f"launcher: {kind!r} jobs start only inside the local world (make demo, dropml local up and the "
            "dropml commands that find it); in the cloud launcher.kind must be 'ecs'"
        )
    started = starter(request)
    logger.info("job launched", extra={"job": job, "key": key, "run_id": run_id, "started": started})
    return started


def run_ecs_task(request: LaunchRequest) -> str:
    """Start the job as a Fargate task of the configured cluster and task definition; returns the task's ARN."""
    conf = settings().launcher
    if not conf.subnets:
        raise ConfigError("launcher.subnets is empty: a Fargate task needs at least one subnet (got [])")
    network: dict[str, Any] = {
        "subnets": list(conf.subnets),
        "assignPublicIp": "ENABLED" if conf.assign_public_ip else "DISABLED",
    }
    if conf.security_groups:
        network["securityGroups"] = list(conf.security_groups)
    try:
        response = aws.client("ecs").run_task(
            cluster=conf.cluster,
            taskDefinition=conf.task_definition,
            launchType="FARGATE",
            count=1,
            group=JOB_TASK_GROUP,
            startedBy=f"dropml-{request.job}"[:STARTED_BY_LIMIT],
            networkConfiguration={"awsvpcConfiguration": network},
            overrides={
                "containerOverrides": [
                    {
                        "name": conf.container_name,
                        "command": request.arguments,  # after the image's ENTRYPOINT python -m training_job.main
                        "environment": [{"name": k, "value": v} for k, v in sorted(request.environment.items())],
                    }
                ]
            },
        )
    except Exception as err:  # botocore's ClientError and friends: all transient from our side
        raise LaunchFailed(f"ecs:RunTask of {conf.task_definition} on cluster {conf.cluster} failed: {err}") from err
    failures = response.get("failures") or []
    tasks = response.get("tasks") or []
    if failures or not tasks:
        raise LaunchFailed(f"ecs:RunTask of {conf.task_definition} on cluster {conf.cluster} failed: {failures}")
    return str(tasks[0]["taskArn"])


register("ecs", run_ecs_task)
