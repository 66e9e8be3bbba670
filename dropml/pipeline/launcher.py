"""Start a training or scoring job: an ECS Fargate task in the cloud, a local process locally.

Both run the same entry point, ``python -m training_job.main <job> --key ...``
(the image's ENTRYPOINT is ``python -m training_job.main``, so the task's
command override is just the arguments)
(the training image scores too, so the scikit-learn that trains is the one
that scores). Which one is configuration (``launcher.kind``), never code.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dropml import aws
from dropml.config import settings
from dropml.errors import BadInput, ConfigError, DropmlError
from dropml.storage import keys

logger = logging.getLogger(__name__)

Job = Literal["train", "score"]
JOB_MODULE = "training_job.main"
DATA_KIND: dict[str, Literal["train", "test"]] = {"train": "train", "score": "test"}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
STARTED_BY_LIMIT = 36  # ECS refuses a longer startedBy
JOB_EXIT_CODES = frozenset({0, 1, 2})  # the job announced these itself: success, unexpected failure, bad input
# (a usage error, exit 64, happens before the job can announce anything: the watcher and the ECS rule announce it)


class LaunchFailed(DropmlError):
    """The job could not be started (ECS refused the task, or the process did not start)."""

    code = "launch_failed"


@dataclass
class LocalJob:
    """A job started as a local process, with where its output goes."""

    run_id: str
    job: str
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path


_local_jobs: list[LocalJob] = []


def job_arguments(job: Job, key: str, overrides: dict[str, Any] | None, run_id: str) -> list[str]:
    """The arguments of ``training_job.main`` for one job.

    Raises:
        BadInput: an unknown job, a key outside the job's prefix, or overrides for scoring.
    """
    if job not in DATA_KIND:
        raise BadInput("job", job, f"job must be one of {sorted(DATA_KIND)} (got {job!r})")
    keys.parse_data_key(key, kind=DATA_KIND[job])
    if job == "train":
        arguments = ["train", "--key", key, "--run-id", run_id]
        if overrides:
            arguments += ["--overrides", json.dumps(overrides, sort_keys=True)]
        return arguments
    if overrides:
        raise BadInput("overrides", overrides, "scoring takes no overrides")
    return ["score", "--key", key, "--request-id", run_id]


def launch(job: Job, key: str, overrides: dict[str, Any] | None = None, correlation_id: str | None = None) -> str:
    """Start ``job`` on ``key``; returns the ECS task ARN or ``local:<pid>``.

    ``correlation_id`` (if key-safe) is also the run/request id, so a retried
    launch of the same event produces the same run.

    Raises:
        BadInput: see :func:`job_arguments`.
        ConfigError: the ECS launcher has no subnets configured.
        LaunchFailed: ECS refused the task or the process could not start.
    """
    run_id = correlation_id if correlation_id and _RUN_ID.match(correlation_id) else f"{job}-{uuid.uuid4().hex[:16]}"
    arguments = job_arguments(job, key, overrides, run_id)
    environment = {"DROPML_CORRELATION_ID": correlation_id or run_id, "DROPML_JOB": job}
    if settings().launcher.kind == "ecs":
        started = _run_ecs_task(job, arguments, environment)
    else:
        started = _run_local_process(job, key, run_id, arguments, environment)
    logger.info("job launched", extra={"job": job, "key": key, "run_id": run_id, "started": started})
    return started


def _run_ecs_task(job: str, arguments: list[str], environment: dict[str, str]) -> str:
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
            startedBy=f"dropml-{job}"[:STARTED_BY_LIMIT],
            networkConfiguration={"awsvpcConfiguration": network},
            overrides={
                "containerOverrides": [
                    {
                        "name": conf.container_name,
                        "command": arguments,  # after the image's ENTRYPOINT python -m training_job.main
                        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
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


def job_log_dir() -> Path:
    """Where local jobs write their output (``$DROPML_JOB_LOG_DIR``, else ``.dropml/jobs``)."""
    return Path(os.environ.get("DROPML_JOB_LOG_DIR") or Path.cwd() / ".dropml" / "jobs")


def _run_local_process(job: str, key: str, run_id: str, arguments: list[str], environment: dict[str, str]) -> str:
    log_dir = job_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{run_id}.log"
    command = [sys.executable, "-m", JOB_MODULE, *arguments]
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    except OSError as err:
        raise LaunchFailed(f"could not start {' '.join(command)}: {err}") from err
    started = LocalJob(run_id=run_id, job=job, key=key, process=process, log_path=log_path)
    _local_jobs.append(started)
    threading.Thread(target=_announce_abnormal_exit, args=(started,), name=f"watch-{run_id}", daemon=True).start()
    return f"local:{process.pid}"


def _announce_abnormal_exit(job: LocalJob) -> None:
    """Announce a job that ended without announcing it itself (killed, out of memory, a usage error).

    The local counterpart of the template's ECS task-state rule; exit codes
    0, 1 and 2 the job announced itself.
    """
    from dropml.ops import notify

    code = job.process.wait()
    if code in JOB_EXIT_CODES:
        return
    cause = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    notify.announce(
        job.job,
        "failed",
        f"{job.job} job for {job.key} died ({cause})",
        project=keys.parse_data_key(job.key).project,
        key=job.key,
        run_id=job.run_id,
        error=f"the job process ended abnormally: {cause}; see {job.log_path}",
    )


def local_jobs() -> list[LocalJob]:
    """The local jobs this process started, oldest first (for the demo and tests to watch)."""
    return list(_local_jobs)


def stop_local_jobs() -> None:
    """Terminate the local jobs that are still running (on shutdown)."""
    for job in _local_jobs:
        if job.process.poll() is None:
            job.process.terminate()
    for job in _local_jobs:
        try:
            job.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            job.process.kill()
