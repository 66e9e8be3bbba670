"""The Dask cluster of one training run: made when the run starts, gone when it ends.

Which cluster is configuration (``dask.training_cluster``), never code:

- ``local``: a ``LocalCluster`` of worker processes inside the job's task, each
  with ``dask.training_worker_memory`` (the local world, or one big task);
- ``ecs``: the job's task runs the scheduler; ``dask.training_workers`` Fargate
  tasks of ``dask.training_worker_task_definition`` are started with
  ``ecs:RunTask`` pointed at it and stopped with ``ecs:StopTask`` when the run
  ends (and each worker exits by itself once the scheduler is gone for
  ``WORKER_DEATH_SECONDS``). No worker exists between runs: $0 at rest.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dropml import aws
from dropml.config import settings
from dropml.errors import ConfigError, DropmlError

if TYPE_CHECKING:
    from dropml.config import DaskSettings

logger = logging.getLogger(__name__)

SCHEDULER_PORT = 8786
WORKER_DEATH_SECONDS = 120  # a worker whose scheduler is gone this long exits (dask worker --death-timeout)
WORKER_CONTAINER = "worker"
RUN_TASK_MOST = 10  # ecs:RunTask starts at most 10 tasks per call
METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"  # set by the ECS agent in every Fargate task
# Training workers never spill to disk: lightgbm.dask keeps each worker's listening socket as a task result, which
# cannot be pickled, and a spill attempt of it kills the run ("cannot pickle 'socket' object"); no pass persists
# the data, so there is little to spill anyway. Arrow's system allocator hands freed memory back, so a worker's
# memory after reading a partition is what it holds, not what its allocator kept.
# Nor do they pause near their limit: LightGBM's workers train together, so one paused worker would stall them all.
WORKER_SETTINGS = {
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
}
WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__WORKER__MEMORY__TARGET": "False",
    "DASK_DISTRIBUTED__WORKER__MEMORY__SPILL": "False",
    "DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE": "False",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}


class ClusterFailed(DropmlError):
    """The run's Dask workers could not be started (ECS refused them, or they did not join in time)."""

    code = "cluster_failed"


@contextmanager
def training_cluster(conf: DaskSettings | None = None) -> Iterator[Any]:
    """A Dask client on the run's own cluster (see the module); the cluster is closed, workers stopped, on exit.

    Raises:
        ClusterFailed: ECS workers did not start or join within ``dask.training_worker_start_seconds``.
    """
    conf = conf or settings().dask
    if conf.training_cluster == "local":
        with _local_cluster(conf) as client:
            yield client
    else:
        with _ecs_cluster(conf) as client:
            yield client


@contextmanager
def _local_cluster(conf: DaskSettings) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    environment = {**dask.config.get("distributed.nanny.pre-spawn-environ"), "ARROW_DEFAULT_MEMORY_POOL": "system"}
    # for the cluster's whole life: a nanny restarting a worker (over its memory limit) gives it the config of then
    with dask.config.set({**WORKER_SETTINGS, "distributed.nanny.pre-spawn-environ": environment}):
        cluster = LocalCluster(
            n_workers=conf.training_workers,
            threads_per_worker=conf.training_threads_per_worker,
            processes=True,
            memory_limit=conf.training_worker_memory,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        client = Client(cluster, set_as_default=False)
        logger.info(
            "training cluster started",
            extra={
                "kind": "local",
                "workers": conf.training_workers,
                "seconds": round(time.perf_counter() - started, 2),
            },
        )
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def task_address() -> str:
    """This Fargate task's private IPv4 address, from the ECS task metadata endpoint (v4).

    Raises:
        ConfigError: not in an ECS task (no metadata endpoint).
    """
    base = os.environ.get(METADATA_ENV)
    if not base:
        raise ConfigError(f"dask.training_cluster is 'ecs' but {METADATA_ENV} is unset: not running in an ECS task")
    with urllib.request.urlopen(f"{base}/task", timeout=5) as answer:
        document = json.loads(answer.read())
    return str(document["Containers"][0]["Networks"][0]["IPv4Addresses"][0])


def worker_command(scheduler: str, conf: DaskSettings) -> list[str]:
    """The worker container's command (after the image's ``dask worker`` entry point)."""
    return [
        scheduler,
        "--nthreads",
        str(conf.training_threads_per_worker),
        "--memory-limit",
        conf.training_worker_memory,
        "--death-timeout",
        str(WORKER_DEATH_SECONDS),
    ]


def start_ecs_workers(scheduler: str, conf: DaskSettings) -> list[str]:
    """Start the run's worker tasks (at most 10 per RunTask call); returns their ARNs.

    Raises:
        ClusterFailed: ECS refused some of them (those started are stopped first).
    """
    launch = settings().launcher
    network: dict[str, Any] = {
        "subnets": list(launch.subnets),
        "assignPublicIp": "ENABLED" if launch.assign_public_ip else "DISABLED",
    }
    if launch.security_groups:
        network["securityGroups"] = list(launch.security_groups)
    arns: list[str] = []
    remaining = conf.training_workers
    while remaining > 0:
        count = min(remaining, RUN_TASK_MOST)
        try:
            answer = aws.client("ecs").run_task(
                cluster=launch.cluster,
                taskDefinition=conf.training_worker_task_definition,
                launchType="FARGATE",
                count=count,
                group="dropml-training-workers",
                startedBy="dropml-training",
                networkConfiguration={"awsvpcConfiguration": network},
                overrides={
                    "containerOverrides": [
                        {
                            "name": WORKER_CONTAINER,
                            "command": worker_command(scheduler, conf),
                            "environment": [{"name": k, "value": v} for k, v in sorted(WORKER_ENVIRONMENT.items())],
                        }
                    ]
                },
            )
        except Exception as err:  # botocore's errors: the run cannot get its workers
            stop_ecs_workers(arns)
            raise ClusterFailed(f"ecs:RunTask of {conf.training_worker_task_definition} failed: {err}") from err
        arns += [task["taskArn"] for task in answer.get("tasks", [])]
        if answer.get("failures"):
            stop_ecs_workers(arns)
            raise ClusterFailed(f"ecs:RunTask of {conf.training_worker_task_definition} failed: {answer['failures']}")
        remaining -= count
    return arns


def stop_ecs_workers(arns: list[str]) -> None:
    """Stop the run's worker tasks (a failure is logged: each also exits once the scheduler is gone)."""
    launch = settings().launcher
    for arn in arns:
        try:
            aws.client("ecs").stop_task(cluster=launch.cluster, task=arn, reason="dropml training run finished")
        except Exception:  # the worker's own death timeout ends it anyway
            logger.warning("worker task not stopped", extra={"task": arn}, exc_info=True)


@contextmanager
def _ecs_cluster(conf: DaskSettings) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    # the workers are other tasks: the scheduler listens on the task's interface, inside its security group
    everywhere = "0.0.0.0"  # noqa: S104
    scheduler = LocalCluster(n_workers=0, host=everywhere, scheduler_port=SCHEDULER_PORT, dashboard_address=None)
    client = Client(scheduler, set_as_default=False)
    address = f"tcp://{task_address()}:{SCHEDULER_PORT}"
    started = time.perf_counter()
    arns = start_ecs_workers(address, conf)
    try:
        try:
            client.wait_for_workers(conf.training_workers, timeout=conf.training_worker_start_seconds)
        except Exception as err:  # distributed's TimeoutError
            raise ClusterFailed(
                f"{conf.training_workers} Fargate workers did not join within {conf.training_worker_start_seconds} s"
            ) from err
        logger.info(
            "training cluster started",
            extra={"kind": "ecs", "workers": len(arns), "seconds": round(time.perf_counter() - started, 1)},
        )
        yield client
    finally:
        stop_ecs_workers(arns)
        client.close()
        scheduler.close()
