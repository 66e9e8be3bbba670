"""Both launcher kinds for real: ecs:RunTask against moto's ECS, and a local process."""

from __future__ import annotations

import os

import pytest

from dropml.aws import client as aws_client
from dropml.config import reset_settings_cache
from dropml.errors import ConfigError
from dropml.jobs import launcher
from dropml.local import jobs, world


@pytest.fixture
def ecs_launcher(aws, monkeypatch):
    built = world.build()
    ec2 = aws_client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    monkeypatch.setenv("DROPML__LAUNCHER__KIND", "ecs")
    monkeypatch.setenv("DROPML__LAUNCHER__SUBNETS", f'["{subnet}"]')
    monkeypatch.setenv("DROPML__LAUNCHER__SECURITY_GROUPS", f'["{group}"]')
    reset_settings_cache()
    return built


def test_ecs_launch_runs_a_fargate_task_with_the_job_command(ecs_launcher):
    arn = launcher.launch("train", "train/crypto/x.csv", {"horizon": 2}, correlation_id="train-0123")
    assert arn.startswith("arn:aws:ecs:")
    [task] = aws_client("ecs").describe_tasks(cluster=ecs_launcher.cluster, tasks=[arn])["tasks"]
    assert task["launchType"] == "FARGATE"
    assert task["taskDefinitionArn"].split("/")[-1].startswith("dropml-training:")
    [override] = task["overrides"]["containerOverrides"]
    assert override["name"] == "train"
    assert override["command"][:5] == ["train", "--key", "train/crypto/x.csv", "--run-id", "train-0123"]
    assert {"name": "DROPML_CORRELATION_ID", "value": "train-0123"} in override["environment"]


def test_ecs_launch_without_subnets_names_the_setting(ecs_launcher, monkeypatch):
    monkeypatch.setenv("DROPML__LAUNCHER__SUBNETS", "[]")
    reset_settings_cache()
    with pytest.raises(ConfigError, match=r"launcher\.subnets"):
        launcher.launch("score", "test/x.csv")


def test_ecs_launch_refused_is_a_launch_failure(ecs_launcher, monkeypatch):
    monkeypatch.setenv("DROPML__LAUNCHER__CLUSTER", "no-such-cluster")
    reset_settings_cache()
    with pytest.raises(launcher.LaunchFailed, match="no-such-cluster"):
        launcher.launch("score", "test/x.csv")


def test_local_launch_runs_the_entry_point_with_the_same_environment(aws, tmp_path, monkeypatch):
    fake = tmp_path / "fake_job.py"
    out = tmp_path / "out.txt"
    fake.write_text(
        "import os, sys\n"
        f"open({str(out)!r}, 'w').write(' '.join(sys.argv[1:]) + '\\n' + os.environ['AWS_ENDPOINT_URL']"
        " + '\\n' + os.environ['DROPML_CORRELATION_ID'])\n"
    )
    monkeypatch.setattr(launcher, "JOB_MODULE", "fake_job")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("DROPML_JOB_LOG_DIR", str(tmp_path / "logs"))
    started = launcher.launch("score", "test/p/x.csv", correlation_id="score-42")
    job = jobs.local_jobs()[-1]
    assert started == f"local:{job.process.pid}"
    assert job.process.wait(timeout=30) == 0, job.log_path.read_text()
    argv, endpoint, cid = out.read_text().splitlines()
    assert argv == "score --key test/p/x.csv --request-id score-42"
    assert endpoint == aws.endpoint
    assert cid == "score-42"
    assert job.log_path.parent == tmp_path / "logs"
