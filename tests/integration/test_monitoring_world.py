"""Monitoring in the local world with IAM enforced: each component as its own role from template.yaml.

The scoring job reports a drifted file and announces it; the web app serves the Monitoring page and writes an
upload's report; its API traffic is sampled by the audit trail; the daily schedule (the batch_predict function)
starts the monitoring job, which reports that day; a labelled file's realized accuracy falls below the holdout and
the job rolls the project back; the operator runs `dropml monitor`. Every call is then checked against its role's
exact policies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime

import pandas as pd
import pytest
from support.live_server import multipart_csv, post
from test_end_to_end import _all_jobs_finished, _call, _live, chain, wait_until  # noqa: F401 - chain is a fixture

from dropml import aws, registry, storage
from dropml.local.demo import serve_web, stop_web
from dropml.local.moto_server import free_port
from dropml.local.poller import LocalContext, load_handler
from dropml.security import admin_key_parameter
from dropml.storage import keys
from tests.conftest import EXAMPLES, load_event

pytestmark = pytest.mark.slow
TRAINING = pd.read_csv(EXAMPLES / "breast_cancer.csv")
FAST_SAMPLE = {  # the web app writes its input sample within a second or two
    "DROPML__MONITORING__TRAFFIC_SAMPLE__WINDOW_SECONDS": "1",
    "DROPML__AUDIT__FLUSH_INTERVAL_SECONDS": "0.5",
}


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _drifted(rows: int) -> pd.DataFrame:
    frame = TRAINING.sample(rows, random_state=2).reset_index(drop=True).drop(columns=["target"])
    for column in frame.columns[:20]:
        frame[column] = frame[column] * 1.8
    return frame


def _flipped(rows: int) -> pd.DataFrame:
    frame = TRAINING.sample(rows, random_state=5).reset_index(drop=True)
    classes = sorted(frame.target.unique())
    return frame.assign(target=frame.target.map({classes[0]: classes[1], classes[1]: classes[0]}))


def _job_done(count: int):
    from dropml.local import jobs

    return lambda: len(jobs.local_jobs()) >= count and _all_jobs_finished()


def _finished_monitor_job(tmp_path, project: str) -> bool:
    """Whether a monitoring job of ``project`` started by another process printed its answer (exit 0)."""
    logs = (tmp_path / "jobs").glob(f"monitor-*-{project}-*.log")
    return any('"job": "monitor"' in log.read_text(errors="replace") for log in logs)


def test_monitoring_runs_as_each_components_role(chain, monkeypatch, tmp_path):  # noqa: F811 - the fixture
    from dropml.local import jobs

    monkeypatch.setenv("DROPML__MONITORING__AUTO_ROLLBACK", "true")  # the jobs inherit it
    monkeypatch.setenv("DROPML__MONITORING__REALIZED__WINDOW_ROWS", "40")
    chain.poller.start()
    for name in ("first", "second"):
        storage.put_bytes(f"train/{name}.csv", (EXAMPLES / "breast_cancer.csv").read_bytes(), "text/csv")
        wait_until(f"v{len(registry.list_versions('default')) + 1} live", _live(1 if name == "first" else 2))
    wait_until("training jobs to finish", _all_jobs_finished)
    trained = len(jobs.local_jobs())

    # a drifted file, scored by the scoring job as its task role: reported and announced
    storage.put_bytes("test/drifted.csv", _csv(_drifted(150)), "text/csv")
    wait_until("the drifted file scored", _job_done(trained + 1))
    notes = chain.announcements()
    [alert] = [n for n in notes if n["step"] == "drift"]
    assert (alert["outcome"], alert["version"], alert["source"]["name"]) == ("alert", 2, "test/drifted.csv")

    # the web app as its role: the page, the JSON, an upload's report, and API traffic for the day's sample
    admin_key = "monitoring-admin-key-0123456789"
    aws.client("ssm").put_parameter(Name=admin_key_parameter(), Value=admin_key, Type="SecureString")
    port = free_port()
    web = serve_web(
        port, {**chain.running.component_environment("WebApp"), **FAST_SAMPLE}, log_path=tmp_path / "web.log"
    )
    assert web is not None, (tmp_path / "web.log").read_text()[-3000:]
    base = f"http://127.0.0.1:{port}"
    today = datetime.now(UTC).date().isoformat()
    try:
        with urllib.request.urlopen(f"{base}/monitoring", timeout=60) as answer:
            page = answer.read().decode()
        assert "test/drifted.csv" in page
        assert 'data-testid="drift-alert"' in page
        records = _drifted(30).to_dict(orient="records")
        for record in records:
            assert post(f"{base}/api/v1/predict", json.dumps(record).encode(), "application/json")[0] == 200
        body, content_type = multipart_csv("upload.csv", _csv(_drifted(40)))
        assert post(f"{base}/upload", body, content_type)[0] == 200
        sampled = keys.audit_project_prefix("samples", today, "default")
        wait_until("the web app's input sample", lambda: list(storage.list_keys(sampled)), timeout=60)

        # the daily schedule: the batch_predict function, as its role, starts the monitoring job
        handler = load_handler("functions/batch_predict/")
        event = {**load_event("schedule_daily_monitoring.json"), "day": today}
        with aws.using_credentials(chain.running.roles["BatchPredictFunction"].credentials):
            started = handler(event, LocalContext("BatchPredictFunction", "schedule"))
        assert (started["job"], started["key"]) == ("monitor", keys.audit_prefix("samples", today))
        wait_until("the monitoring job", _job_done(trained + 2))
        status, document = _call(f"{base}/api/v1/projects/default/monitoring")  # GET
        assert status == 200
        kinds = [r["source"]["kind"] for r in document["drift"]]
        assert kinds == ["file", "upload", "traffic"], kinds
        assert document["drift"][-1]["source"]["rows_seen"] == 30

        # on demand, through the admin API: the web app (its role) starts the task, a child of its own process
        status, answer = _call(f"{base}/api/v1/admin/projects/default/monitor", {"day": today}, admin_key)
        assert (status, answer["status"]) == (202, "monitoring"), answer
        wait_until("the on-demand monitoring job's answer", lambda: _finished_monitor_job(tmp_path, "default"))
    finally:
        stop_web(web)

    # labels that say the live version got it wrong: the scoring job rolls the project back
    storage.put_bytes("test/labelled.csv", _csv(_flipped(60)), "text/csv")
    wait_until("the labelled file scored", _job_done(trained + 3))
    assert registry.live_version("default").version == 1
    notes = chain.announcements()
    assert [(n["step"], n["outcome"]) for n in notes if n["step"] in ("realized", "rollback")] == [
        ("realized", "alert"),
        ("rollback", "succeeded"),
    ]

    # the operator, on demand, in its own process with OperatorPolicy only
    as_operator = {**os.environ, **chain.running.environment}
    done = subprocess.run(
        [sys.executable, "-m", "dropml.cli", "monitor", "default", "--day", today],
        env=as_operator, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 drift report(s) of API traffic" in done.stdout
    assert [job.process.returncode for job in jobs.local_jobs()] == [0] * len(jobs.local_jobs())

    checked = chain.running.check_iam()
    assert checked.unknown == []
    assert checked.denied == [], checked.report
    assert {"TrainingTask", "WebApp", "BatchPredictFunction", "Operator"} <= {r.component for r in checked.requests}


def test_a_challenger_shadows_and_is_promoted_as_each_components_role(chain, monkeypatch, tmp_path):  # noqa: F811
    """The operator makes a weak v1 live and a strong v2 its challenger; the web app answers from v1 and shadows
    with v2 as its role; the scoring job shadows labelled files and, past the window, promotes v2 as its task role."""
    monkeypatch.setenv("DROPML__MONITORING__AUTO_PROMOTE", "true")  # the jobs inherit these
    monkeypatch.setenv("DROPML__MONITORING__CHALLENGER__WINDOW_ROWS", "100")
    chain.poller.start()
    weak = TRAINING[["texture_error", "smoothness_error", "target"]]  # two uninformative columns: a poor champion
    storage.put_bytes("train/weak.csv", _csv(weak), "text/csv")
    wait_until("v1 live", _live(1))
    storage.put_bytes("train/breast_cancer.csv", _csv(TRAINING), "text/csv")
    wait_until("v2 live", _live(2))
    wait_until("training jobs to finish", _all_jobs_finished)
    from dropml.local import jobs

    trained = len(jobs.local_jobs())
    as_operator = {**os.environ, **chain.running.environment}

    def operator(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dropml.cli", *args],
            env=as_operator, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    assert operator("promote", "default", "1").returncode == 0
    made = operator("promote", "default", "2", "--shadow")
    assert made.returncode == 0, made.stdout + made.stderr
    assert registry.challenger_version("default").version == 2

    port = free_port()
    web = serve_web(
        port, {**chain.running.component_environment("WebApp"), **FAST_SAMPLE}, log_path=tmp_path / "web.log"
    )
    assert web is not None, (tmp_path / "web.log").read_text()[-3000:]
    base = f"http://127.0.0.1:{port}"
    try:
        record = TRAINING.drop(columns=["target"]).iloc[0].to_dict()
        for n in range(3):
            status, headers, _ = post(
                f"{base}/api/v1/predict", json.dumps(record).encode(), "application/json", request_id=f"shadowed-{n}"
            )
            assert (status, headers["X-Model-Version"]) == (200, "1")  # the live version answers

        def shadowed() -> list[dict]:
            found = []
            for key in storage.list_keys("audit/predictions/"):
                for line in storage.get_bytes(key).body.splitlines():
                    document = json.loads(line)
                    if document["request_id"].startswith("shadowed-") and document.get("role") == "challenger":
                        found.append(document)
            return found

        wait_until("the web app's shadow records", lambda: len(shadowed()) == 3, timeout=60)
        assert {r["model_version"] for r in shadowed()} == {2}
    finally:
        stop_web(web)

    labelled = TRAINING.sample(120, random_state=9).reset_index(drop=True)
    storage.put_bytes("test/labels-1.csv", _csv(labelled[:60]), "text/csv")
    wait_until("the first labelled file scored", _job_done(trained + 1))
    assert registry.live_version("default").version == 1  # 60 shared rows: too few to decide
    compared = operator("compare", "default")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "same 60 labelled rows:" in compared.stdout

    storage.put_bytes("test/labels-2.csv", _csv(labelled[60:]), "text/csv")
    wait_until("the second labelled file scored", _job_done(trained + 2))
    assert registry.live_version("default").version == 2  # promoted by the scoring job, as its task role
    assert registry.challenger_version("default") is None
    notes = chain.announcements()
    steps = [(n["step"], n["outcome"], n.get("by")) for n in notes if n["step"] in ("challenger", "promote")]
    assert ("challenger", "alert", None) in steps
    assert ("promote", "succeeded", "monitoring") in steps
    assert [job.process.returncode for job in jobs.local_jobs()] == [0] * len(jobs.local_jobs())

    checked = chain.running.check_iam()
    assert checked.unknown == []
    assert checked.denied == [], checked.report
