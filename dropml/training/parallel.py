"""How training uses the machine: the CPUs its task has, and one pool of fits that never oversubscribes them.

A training run is many independent fits (every model on every CV fold, plus
each model's holdout refit). They run as tasks of one joblib (loky) process
pool: ``workers`` processes, each with ``cpus // workers`` BLAS/OpenMP threads
(joblib sets them in the workers; :func:`threadpoolctl.threadpool_limits` in
process when there is one worker), so processes × threads never exceed the
CPUs of the task. One pool for all models, not one ``cross_validate`` per
model, because a model's 5 folds on 2 workers leave a core idle for a third of
the time; the caller orders tasks longest first so the short ones fill the end.

The CPUs of the task are the fewest of: the CPUs this process may run on
(affinity), the cgroup CPU quota of its container (both read by
``joblib.cpu_count()``) and, on ECS, the task's CPU limit from the task
metadata endpoint. Fargate applies a task's ``cpu`` as a CFS quota on the
task's cgroup, the parent of the container's, which the container cannot
read; the metadata endpoint states it (``Limits.CPU`` in vCPUs).
"""

from __future__ import annotations

import json
import logging
import math
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

logger = logging.getLogger(__name__)

ECS_METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"
METADATA_TIMEOUT_SECONDS = 1.0
# below this much expected CPU work, worker processes cost more to start than they save (measured on 2 cores)
POOL_MIN_WORK_SECONDS = 10.0

Result = TypeVar("Result")


def ecs_task_cpus(environ: dict[str, str] | None = None) -> int | None:
    """The task's CPU limit in whole vCPUs (rounded up) from the ECS task metadata endpoint; None off ECS."""
    base = (os.environ if environ is None else environ).get(ECS_METADATA_ENV)
    if not base:
        return None
    try:
        with urllib.request.urlopen(f"{base}/task", timeout=METADATA_TIMEOUT_SECONDS) as answer:
            limit = json.loads(answer.read()).get("Limits", {}).get("CPU")
    except (OSError, ValueError) as err:  # an unreachable or odd endpoint must not stop training
        logger.warning("ECS task metadata unreadable", extra={"error": str(err)})
        return None
    if not isinstance(limit, int | float) or limit <= 0:
        return None
    return max(1, math.ceil(limit))


@lru_cache(maxsize=1)
def available_cpus() -> int:
    """The CPUs this training task has: affinity, cgroup quota and the ECS task limit, whichever is fewest."""
    import joblib

    found = [joblib.cpu_count(), ecs_task_cpus()]
    return max(1, min(n for n in found if n))


def resolve_n_jobs(configured: int, available: int) -> int:
    """The CPUs a run uses: ``-1`` means all ``available``; a positive setting is capped at ``available``."""
    if configured == -1:
        return available
    return max(1, min(configured, available))


@dataclass(frozen=True)
class Plan:
    """How ``cpus`` CPUs are spread over ``tasks`` tasks: worker processes × threads per worker <= cpus."""

    workers: int
    threads: int

    @classmethod
    def for_tasks(cls, cpus: int, tasks: int, work_seconds: float = math.inf) -> Plan:
        """As many workers as there are CPUs (never more than tasks), the rest of the CPUs as threads.

        Work expected to take under ``POOL_MIN_WORK_SECONDS`` of CPU runs in
        this process on one thread instead: starting a worker costs about
        2.5 s of CPU (importing pandas and scikit-learn), and handing tiny
        fits to threads costs more than the fits, so a small data set is
        fastest without either.
        """
        if work_seconds < POOL_MIN_WORK_SECONDS:
            return cls(workers=1, threads=1)
        workers = max(1, min(cpus, tasks))
        return cls(workers=workers, threads=max(1, cpus // workers))


def run_tasks(tasks: Sequence[Callable[[], Result]], plan: Plan) -> list[Result]:
    """Run zero-argument picklable callables as ``plan`` says; results in the order of ``tasks``.

    The caller orders ``tasks`` longest first: workers take them one at a time,
    in order. Inside a task, BLAS/OpenMP pools and scikit-learn's own joblib
    parallelism (a forest's trees, with ``n_jobs=None``) get the threads of
    its slot, so a model's published ``n_jobs`` stays as configured.
    """
    from joblib import Parallel, delayed, parallel_config

    if plan.workers == 1 or len(tasks) <= 1:
        return [_call(task, plan.threads * plan.workers) for task in tasks]
    with parallel_config(backend="loky", inner_max_num_threads=plan.threads):
        return Parallel(n_jobs=plan.workers, batch_size=1)(delayed(_call)(task, plan.threads) for task in tasks)


def _call(task: Callable[[], Result], threads: int) -> Result:
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads), parallel_config(n_jobs=threads):
        return task()
