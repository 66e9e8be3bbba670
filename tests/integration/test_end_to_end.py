"""The whole chain on the moto server: S3 put → SQS → (poller) the same handlers → local training/scoring
processes → manifest → publish → SSM, exactly as `make demo` runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dropml import registry, storage
from dropml.aws import client as aws_client
from dropml.aws import reset_clients
from dropml.config import reset_settings_cache
from dropml.local import jobs, poller, running
from dropml.local.demo import sample_csv, serve_web, stop_web
from dropml.local.moto_server import free_port
from dropml.security import admin_key_parameter
from dropml.storage import keys
from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow
IAM_REPORT = ROOT / ".dropml" / "iam-report.md"  # components x actions used x granted, from the last run
TIMEOUT = 240


def _jobs_report() -> str:
    lines = []
    for job in jobs.local_jobs():
        log = job.log_path.read_text(errors="replace")[-2000:] if job.log_path.exists() else ""
        lines.append(f"{job.job} {job.key} exit={job.process.poll()}\n{log}")
    return "\n".join(lines)


def wait_until(what: str, done: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = done()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; local jobs:\n{_jobs_report()}")


def _all_jobs_finished() -> bool:
    return all(job.process.poll() is not None for job in jobs.local_jobs())


@pytest.fixture
def chain(monkeypatch, tmp_path):
    """The local world as `make demo` starts it: moto enforcing IAM, each function polling and running as its own
    role, jobs as the task role, this process as the operator; an SNS inbox; the poller not started yet."""
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("DROPML__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DROPML__TRAINING__CV_FOLDS", "2")  # inherited by the training processes: faster
    monkeypatch.setenv("DROPML_JOB_LOG_DIR", str(tmp_path / "jobs"))
    reset_settings_cache()
    jobs.stop_local_jobs()
    monkeypatch.setattr(jobs, "_local_jobs", [])
    local_world = running.start(state_file=None, record_calls=tmp_path / "calls.jsonl")
    local_world.poller.stop()  # each test starts delivering when it is ready
    built = local_world.world
    sqs = aws_client("sqs")
    inbox = sqs.create_queue(QueueName="sns-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=built.topic_arn, Protocol="sqs", Endpoint=inbox_arn)

    def announcements() -> list[dict]:
        found = []
        while batch := sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])
        return found

    delivering = poller.Poller(local_world.poller.routes, wait_seconds=1)
    found = SimpleNamespace(world=built, poller=delivering, announcements=announcements, running=local_world)
    try:
        yield found
    finally:
        found.poller.stop()
        local_world.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_settings_cache()
        reset_clients()


def _live(version: int) -> Callable[[], bool]:
    return lambda: (live := registry.live_version("default")) is not None and live.version >= version


def test_upload_trains_publishes_and_scores_then_a_second_upload_makes_v2_live(chain):
    chain.poller.start()
    storage.put_bytes("train/breast_cancer.csv", (EXAMPLES / "breast_cancer.csv").read_bytes(), "text/csv")
    wait_until("v1 live in SSM", _live(1))
    assert registry.live_version("default").version == 1
    manifest = registry.read_manifest("default", 1)

    storage.put_bytes("test/sample.csv", sample_csv(EXAMPLES / "breast_cancer.csv", rows=50), "text/csv")
    predictions_key = keys.predictions_key("default", "sample.csv")
    wait_until(predictions_key, lambda: storage.exists(predictions_key))
    rows = list(csv.DictReader(io.StringIO(storage.get_bytes(predictions_key).body.decode())))
    assert len(rows) == 50
    columns = list(rows[0])
    training = list(csv.DictReader(io.StringIO((EXAMPLES / "breast_cancer.csv").read_text())))
    inputs = [c for c in training[0] if c != "target"]
    assert columns[: len(inputs)] == inputs
    assert {f"pred_{m.name}" for m in manifest.models} <= set(columns)
    assert {"prediction", "model_version", "request_id"} <= set(columns)
    assert {r["model_version"] for r in rows} == {"1"}
    assert {r["prediction"] for r in rows} <= {r["target"] for r in training}

    storage.put_bytes("train/breast_cancer_again.csv", (EXAMPLES / "breast_cancer.csv").read_bytes(), "text/csv")
    wait_until("v2 live in SSM", _live(2))
    assert registry.list_versions("default") == [1, 2]
    wait_until("jobs to finish", _all_jobs_finished)
    notes: list[dict] = []

    def published() -> list[int]:  # the publisher announces after it moves the parameter: SSM can be seen first
        notes.extend(chain.announcements())
        return [n["version"] for n in notes if n["step"] == "publish" and n["outcome"] == "succeeded"]

    wait_until("v2's publish announcement", lambda: len(published()) >= 2)
    assert published() == [1, 2]
    assert [n for n in notes if n["outcome"] == "failed"] == []
    assert [job.process.returncode for job in jobs.local_jobs()] == [0, 0, 0]


def _capture_event(queue: str, key: str, body: bytes) -> str:
    """Put ``key`` and take its S3 notification off ``queue`` (the poller is not running yet)."""
    sqs = aws_client("sqs")
    storage.put_bytes(key, body, "text/csv")
    while True:
        [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=2)["Messages"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if "Records" in json.loads(message["Body"]):
            return message["Body"]


def test_the_same_s3_event_delivered_twice_makes_one_version_and_one_predictions_file(chain):
    sqs = aws_client("sqs")
    training = chain.world.queues["TrainingQueue"].url
    body = _capture_event(training, "train/breast_cancer.csv", (EXAMPLES / "breast_cancer.csv").read_bytes())
    sqs.send_message(QueueUrl=training, MessageBody=body)
    sqs.send_message(QueueUrl=training, MessageBody=body)
    chain.poller.start()
    wait_until("v1 live", _live(1))

    scoring = chain.world.queues["ScoringQueue"].url
    chain.poller.stop()
    body = _capture_event(scoring, "test/sample.csv", sample_csv(EXAMPLES / "breast_cancer.csv", rows=20))
    sqs.send_message(QueueUrl=scoring, MessageBody=body)
    sqs.send_message(QueueUrl=scoring, MessageBody=body)
    chain.poller = poller.Poller(chain.poller.routes, wait_seconds=1).start()
    try:
        wait_until("predictions", lambda: storage.exists(keys.predictions_key("default", "sample.csv")))
        wait_until("jobs to finish", _all_jobs_finished)
        time.sleep(3)  # long enough for a second delivery to have started a second job
    finally:
        chain.poller.stop()
    assert registry.list_versions("default") == [1]
    assert list(storage.list_keys("predictions/")) == ["predictions/sample.csv"]
    assert sorted(job.job for job in jobs.local_jobs()) == ["score", "train"]
    for queue in chain.world.queues.values():
        attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0", queue.logical_id


def test_make_demo_once_runs_the_chain_and_exits_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dropml.local.demo", "--once", "--timeout", "300"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "is live" in result.stdout
    assert "predictions/breast_cancer_sample.csv: 50 rows" in result.stdout
    assert "demo finished: ok" in result.stdout


def _call(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"X-API-Key": key} if key else {})},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_each_component_as_its_own_role_trains_serves_retrains_promotes_and_rolls_back(chain, tmp_path):
    refused = boto3.session.Session("testing", "testing", region_name="us-east-1").client("s3")
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):  # IAM is enforced: moto's test keys are refused
        refused.list_objects_v2(Bucket=chain.world.bucket)
    assert set(chain.running.roles) == {
        "TrainTriggerFunction", "ModelPublishedFunction", "BatchPredictFunction", "DataDropFunction", "TrainingTask",
        "WebApp", "Operator"
    }  # fmt: skip
    chain.poller.start()
    storage.put_bytes("train/breast_cancer.csv", (EXAMPLES / "breast_cancer.csv").read_bytes(), "text/csv")
    wait_until("v1 live in SSM", _live(1))
    admin_key = "e2e-admin-key-0123456789"
    aws_client("ssm").put_parameter(Name=admin_key_parameter(), Value=admin_key, Type="SecureString")

    port = free_port()
    web = serve_web(port, chain.running.component_environment("WebApp"), log_path=tmp_path / "web.log")
    assert web is not None, (tmp_path / "web.log").read_text()[-3000:]
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        record = next(csv.DictReader(io.StringIO((EXAMPLES / "breast_cancer.csv").read_text())))
        record.pop("target")
        status, answer = _call(f"{base}/predict", {k: float(v) for k, v in record.items()})
        assert status == 200, answer
        assert answer["model_version"] == 1

        status, answer = _call(f"{base}/admin/projects/default/retrain", {}, admin_key)  # the web app runs the task
        assert status == 202, answer
        wait_until("v2 live after the retrain", _live(2))
        status, answer = _call(f"{base}/admin/projects/default/rollback", {}, admin_key)
        assert (status, answer["live_version"]) == (200, 1), answer
        status, answer = _call(f"{base}/admin/projects/default/promote", {"version": 2}, admin_key)
        assert (status, answer["live_version"], answer["was"]) == (200, 2, 1), answer
    finally:
        stop_web(web)
    storage.put_bytes("test/sample.csv", sample_csv(EXAMPLES / "breast_cancer.csv", rows=20), "text/csv")
    wait_until("predictions", lambda: storage.exists(keys.predictions_key("default", "sample.csv")))
    log = (tmp_path / "web.log").read_text()
    assert "AccessDenied" not in log, log[-3000:]
    as_operator = {**os.environ, **chain.running.environment}  # dropml commands act with OperatorPolicy only
    for command in (["status"], ["history", "default"], ["rollback", "default"], ["promote", "default", "2"]):
        done = subprocess.run([sys.executable, "-m", "dropml.cli", *command], env=as_operator, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, f"dropml {' '.join(command)}: {done.stdout}{done.stderr}"
    wait_until("jobs to finish", _all_jobs_finished)
    assert [job.process.returncode for job in jobs.local_jobs()] == [0, 0]  # the retrain was the web app's child
    assert registry.read_manifest("default", 2).version == 2
    assert list(storage.list_keys(keys.audit_prefix("predictions")))  # the web app wrote its audit records as its role

    # moto scopes few resources and conditions: every call each component made, against its exact policies
    checked = chain.running.check_iam()
    IAM_REPORT.parent.mkdir(parents=True, exist_ok=True)
    IAM_REPORT.write_text(checked.report)
    print(f"\n{checked.report}")
    assert checked.unknown == []
    assert checked.denied == []
    used = {r.component for r in checked.requests}
    assert used == set(chain.running.roles)  # every component made calls, each was checked


def test_a_permission_the_publishers_role_lacks_fails_locally_as_on_aws(chain):
    iam = aws_client("iam")  # the operator (the deployer) edits the role, as a template change would
    role = chain.running.roles["ModelPublishedFunction"]
    [policy] = [name for name, doc in role.documents.items() if "LiveVersion" in json.dumps(doc)]
    iam.delete_role_policy(RoleName=role.role_name, PolicyName=policy)
    chain.poller.start()
    storage.put_bytes("train/breast_cancer.csv", (EXAMPLES / "breast_cancer.csv").read_bytes(), "text/csv")
    manifest = keys.manifest_key("default", 1)
    wait_until("the version's manifest", lambda: storage.exists(manifest))
    failed = wait_until(
        "the publish failure announced",
        lambda: [n for n in chain.announcements() if n["step"] == "publish" and n["outcome"] == "failed"],
    )
    assert "AccessDenied" in failed[0]["error"] or "403" in failed[0]["error"], failed[0]
    assert registry.live_version("default") is None
