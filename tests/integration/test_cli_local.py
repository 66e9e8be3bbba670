"""The CLI's local world and on-demand work, run as a user would: subprocesses, real files, the whole chain."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from fakes import FAST_TRAINING

from dropml import queues
from dropml.aws import client as aws_client
from dropml.local import world

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast_cancer.csv"


def _the_printed_keys_work(up: subprocess.Popen[str], state: dict) -> None:
    """The export line `dropml local up` prints works with the aws CLI or boto3 against the enforcing world
    (it printed moto's `testing` keys, which that world refuses with InvalidAccessKeyId)."""
    line = ""
    while "export " not in line:
        line = up.stdout.readline()
        assert line, "dropml local up printed no export line"
    exported = dict(pair.split("=", 1) for pair in shlex.split(line.split("export ", 1)[1]))
    assert exported["AWS_ACCESS_KEY_ID"] != "testing"
    session = boto3.session.Session(
        exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"], exported["AWS_SESSION_TOKEN"], "us-east-1"
    )
    s3 = session.client("s3", endpoint_url=exported["AWS_ENDPOINT_URL"])
    assert s3.list_objects_v2(Bucket=state["bucket"], Prefix="train/")["KeyCount"] == 0  # the operator may list it


def dropml(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    return subprocess.run(
        [sys.executable, "-m", "dropml.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_local_up_train_predict_status_down(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    up = subprocess.Popen(
        [sys.executable, "-m", "dropml.cli", "local", "up"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state_file = tmp_path / ".dropml" / "local.json"
        deadline = time.monotonic() + 60
        while not state_file.exists() and time.monotonic() < deadline:
            assert up.poll() is None, up.stdout.read()
            time.sleep(0.2)
        state = json.loads(state_file.read_text())
        assert state["endpoint"].startswith("http://127.0.0.1:")
        _the_printed_keys_work(up, state)

        fast = ["--set", f"models={json.dumps(FAST_TRAINING['models'])}"]  # as a user types it
        trained = dropml(tmp_path, "train", "default", "--file", str(EXAMPLE), "--wait", "--timeout", "400")
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert "uploaded" in trained.stdout
        assert "default: v1 is live" in trained.stdout

        rows = list(csv.reader(EXAMPLE.read_text().splitlines()))
        header = rows[0]
        keep = [i for i, name in enumerate(header) if name != "target"]
        sample = tmp_path / "to_score.csv"
        sample.write_text("\n".join(",".join(row[i] for i in keep) for row in rows[:21]) + "\n")
        predicted = dropml(tmp_path, "predict", str(sample), "--timeout", "300")
        assert predicted.returncode == 0, predicted.stdout + predicted.stderr
        out = list(csv.DictReader((tmp_path / "to_score.predictions.csv").read_text().splitlines()))
        assert len(out) == 20
        assert {row["model_version"] for row in out} == {"1"}

        retrained = dropml(tmp_path, "train", "default", *fast, "--wait", "--timeout", "400")
        assert retrained.returncode == 0, retrained.stdout + retrained.stderr
        assert "training started on train/breast_cancer.csv" in retrained.stdout
        assert "default: v2 is live" in retrained.stdout

        shown = dropml(tmp_path, "status")
        assert shown.returncode == 0, shown.stderr
        assert "default              live: v2" in shown.stdout
        assert "TrainingQueue" in shown.stdout

        bad = dropml(tmp_path, "train", "default", "--key", "train/nope.csv")
        assert bad.returncode == 2
        assert "train/nope.csv does not exist" in bad.stderr

        _a_failed_run_stops_the_wait_and_a_target_chosen_at_upload_trains(tmp_path)
    finally:
        down = dropml(tmp_path, "local", "down")
        up.wait(timeout=60)
    assert down.returncode == 0, down.stderr
    assert "local world stopped" in down.stdout
    assert not (tmp_path / ".dropml" / "local.json").exists()


def test_redrive_moves_dead_letters_back_to_their_queue(aws):
    built = world.build()
    sqs = aws_client("sqs")
    training = built.queues["TrainingQueue"]
    sqs.send_message(QueueUrl=training.dead_letter_url, MessageBody='{"poison": true}')
    dlq = next(q for q in queues.stack_queues() if q.dead_letter_of == "TrainingQueue")
    assert dlq.waiting == 1
    assert queues.redrive() == {
        "TrainingDeadLetterQueue": 1,
        "PublishDeadLetterQueue": 0,
        "ScoringDeadLetterQueue": 0,
        "DropsDeadLetterQueue": 0,
    }
    received = sqs.receive_message(QueueUrl=training.url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    bodies = [m["Body"] for m in received if "s3:TestEvent" not in m["Body"]]  # S3's own test event is there too
    assert bodies == ['{"poison": true}']
    with pytest.raises(Exception, match="'Nope' is not a dead-letter queue"):
        queues.redrive("Nope")


def _a_failed_run_stops_the_wait_and_a_target_chosen_at_upload_trains(cwd: Path) -> None:
    """Part of the local-world session above: waiting commands stop on failure; --target trains a real data set."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})  # classes 0, 1, 2 as int
    wine_csv = cwd / "wine.csv"
    wine.to_csv(wine_csv, index=False)
    fast = ["--set", f"models={json.dumps(FAST_TRAINING['models'])}", "--set", "cv_folds=3"]

    started = time.monotonic()  # no target column and none chosen: the run fails and the wait says so at once
    failed = dropml(cwd, "train", "wine", "--file", str(wine_csv), *fast, "--wait", "--timeout", "600")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "training train/wine/wine.csv failed" in failed.stderr
    assert "cultivar" in failed.stderr  # the message lists the columns to choose from
    assert time.monotonic() - started < 120  # far inside --timeout: it stopped on the announced failure

    trained = dropml(cwd, "train", "wine", "--file", str(wine_csv), "--target", "cultivar", "--wait")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert '"target": "cultivar"' in trained.stdout  # the stored settings, shown
    assert "wine: v1 is live" in trained.stdout  # the same file trains again: its project's settings changed

    rows = wine.drop(columns=["cultivar"]).head(5)
    rows.to_csv(cwd / "wine_rows.csv", index=False)
    predicted = dropml(cwd, "predict", str(cwd / "wine_rows.csv"), "--project", "wine")
    assert predicted.returncode == 0, predicted.stdout + predicted.stderr
    out = list(csv.DictReader((cwd / "wine_rows.predictions.csv").read_text().splitlines()))
    assert {row["prediction"] for row in out} <= {"0", "1", "2"}  # the classes as they were sent: ints

    rows.drop(columns=["alcohol"]).to_csv(cwd / "wine_short.csv", index=False)
    started = time.monotonic()
    refused = dropml(cwd, "predict", str(cwd / "wine_short.csv"), "--project", "wine", "--timeout", "600")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "scoring test/wine/wine_short.csv failed" in refused.stderr
    assert "alcohol" in refused.stderr
    assert time.monotonic() - started < 120
