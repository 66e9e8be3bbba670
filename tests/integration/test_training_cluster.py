"""A training run's own Dask workers: started on the stand-in's ECS with the cloud's request, stopped when it ends;
locally a LocalCluster of processes with the configured memory limit each."""

from __future__ import annotations

import os

import pytest

from dropml.aws import client as aws_client
from dropml.config import reset_settings_cache, settings
from dropml.training import cluster


@pytest.fixture
def ecs(aws, monkeypatch):
    """The stand-in's ECS with the template's cluster and worker task family, and its default network."""
    ecs_client = aws_client("ecs")
    ec2 = aws_client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    ecs_client.create_cluster(clusterName="dropml")
    ecs_client.register_task_definition(
        family="dropml-training-worker",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="2048",
        memory="8192",
        containerDefinitions=[{"name": "worker", "image": "dropml-training:local", "memory": 8192}],
    )
    monkeypatch.setenv("DROPML__LAUNCHER__SUBNETS", f'["{subnet}"]')
    monkeypatch.setenv("DROPML__LAUNCHER__SECURITY_GROUPS", f'["{group}"]')
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKERS", "12")
    reset_settings_cache()
    return ecs_client


def test_a_run_starts_its_workers_pointed_at_its_scheduler_and_stops_every_one(ecs):
    conf = settings().dask
    arns = cluster.start_ecs_workers("tcp://10.0.0.5:8786", conf)
    assert len(arns) == 12  # two RunTask calls: ECS starts at most 10 tasks per call
    described = ecs.describe_tasks(cluster="dropml", tasks=arns)["tasks"]
    overrides = described[0]["overrides"]["containerOverrides"][0]
    assert overrides["name"] == "worker"
    assert overrides["command"] == [
        "tcp://10.0.0.5:8786", "--nthreads", "1", "--memory-limit", "4GiB", "--death-timeout", "120"
    ]  # fmt: skip
    assert {task["group"] for task in described} == {"dropml-training-workers"}
    cluster.stop_ecs_workers(arns)
    stopped = ecs.describe_tasks(cluster="dropml", tasks=arns)["tasks"]
    assert {task["desiredStatus"] for task in stopped} == {"STOPPED"}


def test_workers_ecs_refuses_are_reported_and_those_started_are_stopped(ecs, monkeypatch):
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKER_TASK_DEFINITION", "no-such-family")
    reset_settings_cache()
    with pytest.raises(cluster.ClusterFailed, match="ecs:RunTask of no-such-family failed"):
        cluster.start_ecs_workers("tcp://10.0.0.5:8786", settings().dask)


def test_outside_an_ecs_task_the_ecs_cluster_names_what_is_missing(monkeypatch):
    monkeypatch.delenv(cluster.METADATA_ENV, raising=False)
    with pytest.raises(Exception, match="ECS_CONTAINER_METADATA_URI_V4 is unset"):
        cluster.task_address()


@pytest.mark.slow
def test_the_local_cluster_has_the_configured_workers_and_memory_limit(monkeypatch):
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKERS", "2")
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKER_MEMORY", "700MiB")
    reset_settings_cache()
    try:
        with cluster.training_cluster() as client:
            limits = {w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
            assert len(client.scheduler_info()["workers"]) == 2
            assert limits == {700 * 1024**2}
            pids = set(client.run(os.getpid).values())
            assert os.getpid() not in pids  # worker processes, not threads of this one
    finally:
        reset_settings_cache()
