"""How training spreads over the machine: the task's CPUs, the n_jobs setting, and a pool that never oversubscribes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dropml.config import TrainingSettings, load_settings
from dropml.errors import ConfigError
from dropml.training.parallel import ECS_METADATA_ENV, Plan, ecs_task_cpus, resolve_n_jobs

ROOT = Path(__file__).resolve().parents[2]


def test_n_jobs_defaults_to_every_cpu_of_the_task_and_is_capped_at_them():
    assert TrainingSettings().n_jobs == -1
    assert resolve_n_jobs(-1, available=2) == 2
    assert resolve_n_jobs(-1, available=16) == 16
    assert resolve_n_jobs(1, available=2) == 1
    assert resolve_n_jobs(8, available=2) == 2  # more processes than CPUs would only fight over them


def test_n_jobs_zero_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"training": {"n_jobs": 0}}))
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value) == (
        "config.json: training.n_jobs: Value error, n_jobs must be -1 (every CPU of the task) or a number of "
        "CPUs >= 1 (got 0)"
    )


@pytest.mark.parametrize(
    ("cpus", "tasks", "workers", "threads"),
    [(2, 24, 2, 1), (1, 24, 1, 1), (16, 24, 16, 1), (8, 3, 3, 2), (4, 1, 1, 4), (7, 2, 2, 3)],
)
def test_a_plan_never_uses_more_threads_than_cpus(cpus, tasks, workers, threads):
    plan = Plan.for_tasks(cpus, tasks)
    assert (plan.workers, plan.threads) == (workers, threads)
    assert plan.workers * plan.threads <= cpus


def test_small_work_stays_in_this_process_on_one_thread():
    # a worker costs ~2.5 s of CPU to start: a small data set's fits are done sooner than that
    assert Plan.for_tasks(cpus=16, tasks=24, work_seconds=3.0) == Plan(workers=1, threads=1)
    assert Plan.for_tasks(cpus=16, tasks=24, work_seconds=300.0) == Plan(workers=16, threads=1)
    assert Plan.for_tasks(cpus=4, tasks=1, work_seconds=60.0) == Plan(workers=1, threads=4)


def _available_cpus_in_a_child(env: dict[str, str], affinity: set[int] | None = None) -> int:
    """available_cpus() as a fresh training process sees it (its value is cached per process)."""
    pin = f"os.sched_setaffinity(0, {sorted(affinity)!r}); " if affinity else ""
    code = f"import os; {pin}from dropml.training.parallel import available_cpus; print(available_cpus())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True, timeout=60
    )
    return int(done.stdout)


def test_the_cpus_this_process_may_run_on_bound_the_count():
    env = {k: v for k, v in os.environ.items() if k != ECS_METADATA_ENV}
    allowed = os.sched_getaffinity(0)
    assert _available_cpus_in_a_child(env) <= len(allowed)
    assert _available_cpus_in_a_child(env, affinity={min(allowed)}) == 1


class _TaskMetadata(BaseHTTPRequestHandler):
    """The ECS task metadata endpoint (v4) as a Fargate task reads it: GET <uri>/task."""

    limits: dict = {}  # noqa: RUF012 - set per server below

    def do_GET(self) -> None:
        body = json.dumps({"Cluster": "dropml", "Limits": self.limits}).encode()
        status = 200 if self.path == "/v4/abc/task" else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def task_metadata() -> Iterator[callable]:
    """A metadata endpoint on 127.0.0.1 answering with the task limits given; yields a setter returning its URI."""
    handler = type("Handler", (_TaskMetadata,), {"limits": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(limits: dict) -> str:
        handler.limits = limits
        return f"http://127.0.0.1:{server.server_port}/v4/abc"

    yield serve
    server.shutdown()
    server.server_close()


def test_an_ecs_task_uses_its_task_cpu_limit_rounded_up(task_metadata):
    assert ecs_task_cpus({ECS_METADATA_ENV: task_metadata({"CPU": 4, "Memory": 8192})}) == 4
    assert ecs_task_cpus({ECS_METADATA_ENV: task_metadata({"CPU": 0.25, "Memory": 512})}) == 1
    assert ecs_task_cpus({ECS_METADATA_ENV: task_metadata({"Memory": 512})}) is None
    assert ecs_task_cpus({}) is None  # not on ECS


def test_a_1_vcpu_fargate_task_trains_on_one_cpu(task_metadata):
    # Fargate enforces the task's cpu as a quota on the task's cgroup, which the container cannot read
    env = {**os.environ, ECS_METADATA_ENV: task_metadata({"CPU": 1, "Memory": 2048})}
    assert _available_cpus_in_a_child(env) == 1


def test_an_unreachable_metadata_endpoint_does_not_stop_training(caplog):
    with caplog.at_level(logging.WARNING, logger="dropml.training.parallel"):
        assert ecs_task_cpus({ECS_METADATA_ENV: "http://127.0.0.1:9/v4/gone"}) is None
    assert [r.message for r in caplog.records] == ["ECS task metadata unreadable"]


def _regression_data(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(5)})
    return frame.assign(target=frame["x0"] * 2 - frame["x1"] + rng.normal(scale=0.3, size=rows))


def _fit(n_jobs: int, caplog: pytest.LogCaptureFixture) -> tuple[dict, logging.LogRecord]:
    from dropml.training.clean import clean_frame
    from dropml.training.evaluation import random_split
    from dropml.training.steps import fit_models

    conf = TrainingSettings(
        cv_folds=3,
        n_jobs=n_jobs,
        models={
            "baseline": {"estimator": "dummy"},
            "linear": {"estimator": "linear"},
            "forest": {"estimator": "random_forest", "params": {"n_estimators": 10}},
            "boosting": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 20}},
        },
    )
    cleaned = clean_frame(_regression_data(), conf)
    split = random_split(cleaned.labels, "regression", 3, 0.2, 0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dropml.training.steps"):
        results = {r.name: r.metrics for r in fit_models(cleaned, conf, split, "rmse")}
    fitted = next(r for r in caplog.records if r.message == "models fitted")
    return results, fitted


def test_models_fit_in_one_pool_of_every_cpu_with_the_same_scores_as_one_process(caplog, monkeypatch):
    from dropml.training import parallel
    from dropml.training.parallel import available_cpus

    monkeypatch.setattr(parallel, "POOL_MIN_WORK_SECONDS", 0.0)  # the pool even for this small data set
    alone, alone_log = _fit(1, caplog)
    spread, spread_log = _fit(-1, caplog)
    assert (alone_log.cpus, alone_log.workers, alone_log.tasks) == (1, 1, 16)  # 4 models x (3 folds + holdout)
    assert (spread_log.cpus, spread_log.workers) == (available_cpus(), min(available_cpus(), 16))
    for name, metrics in alone.items():
        for metric in ("rmse", "r2", "holdout_rmse", "holdout_r2"):
            assert spread[name][metric] == pytest.approx(metrics[metric], rel=1e-9), (name, metric)
