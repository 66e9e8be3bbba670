"""Jobs as local processes: the local world's launcher, standing in for ECS Fargate.

:func:`start_process` runs the same entry point as the task
(``python -m training_job.main <arguments>``) as a child process with the
job's environment (acting as its task role: :data:`TASK_ENVIRONMENT_ENV`),
its output in a log file; a watcher thread announces a
job that dies without announcing it itself, as the template's ECS task-state
rule does in the cloud. :func:`register` makes it the ``local`` launcher of
this process (every process of the local world that launches jobs calls it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from dropml import notify
from dropml.jobs import launcher
from dropml.jobs.job import job_project

KIND = "local"
# The job's role, as ECS gives a task its task role: JSON of AWS_* variables the job process gets on top of the
# launching process's environment (set by the local world when it enforces IAM; inherited by its processes).
TASK_ENVIRONMENT_ENV = "DROPML_LOCAL_TASK_ENVIRONMENT"


@dataclass
class LocalJob:
    """A job started as a local process, with where its output goes."""

    run_id: str
    job: str
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path


_local_jobs: list[LocalJob] = []


def job_log_dir() -> Path:
    """Where local jobs write their output (``$DROPML_JOB_LOG_DIR``, else ``.dropml/jobs``)."""
    return Path(os.environ.get("DROPML_JOB_LOG_DIR") or Path.cwd() / ".dropml" / "jobs")


def start_process(request: launcher.LaunchRequest) -> str:
    """Start the job as a child process of this one; returns ``local:<pid>``.

    Raises:
        LaunchFailed: the process could not be started.
    """
    task_role = task_environment()
    if task_role:  # the world enforces IAM: ask the stand-in's ECS first, with the cloud's own request, as the caller
        launcher.run_ecs_task(request)  # so a role without ecs:RunTask fails here as it would on AWS
    log_dir = job_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{request.run_id}.log"
    command = [sys.executable, "-m", launcher.JOB_MODULE, *request.arguments]
    try:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command,
                env={**os.environ, **task_role, **request.environment},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal stops the world, which stops its jobs in order
            )
    except OSError as err:
        raise launcher.LaunchFailed(f"could not start {' '.join(command)}: {err}") from err
    started = LocalJob(run_id=request.run_id, job=request.job, key=request.key, process=process, log_path=log_path)
    _local_jobs.append(started)
    threading.Thread(
        target=_announce_abnormal_exit, args=(started,), name=f"watch-{request.run_id}", daemon=True
    ).start()
    return f"local:{process.pid}"


def task_environment() -> dict[str, str]:
    """The variables that make a job act as its task role (none when the world does not enforce IAM)."""
    found = json.loads(os.environ.get(TASK_ENVIRONMENT_ENV) or "{}")
    return {str(k): str(v) for k, v in found.items()}


def _announce_abnormal_exit(job: LocalJob) -> None:
    """Announce a job that ended without announcing it itself (killed, out of memory, a usage error).

    The local counterpart of the template's ECS task-state rule; exit codes
    0, 1 and 2 the job announced itself.
    """
    code = job.process.wait()
    if code in launcher.JOB_EXIT_CODES:
        return
    cause = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    notify.announce(
        job.job,
        "failed",
        f"{job.job} job for {job.key} died ({cause})",
        project=job_project(job.job, job.key),  # type: ignore[arg-type]
        key=job.key,
        run_id=job.run_id,
        error=f"the job process ended abnormally: {cause}; see {job.log_path}",
    )


def register() -> None:
    """Make local processes this process's ``local`` launcher (a process of the local world that launches jobs)."""
    launcher.register(KIND, start_process)


def unregister() -> None:
    """Stop launching local processes from this process (the local world stopped)."""
    launcher.unregister(KIND)


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
