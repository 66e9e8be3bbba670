"""Every prediction request leaves one audit record, and `dropml audit` walks it back to data, code and config."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run_cli
from fakes import FAST_TRAINING

from dropml import audit, registry, storage
from dropml.config import load_settings
from dropml.usecases.score_file import score_file
from dropml.usecases.train import run_training
from web import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def trained(aws):
    storage.put_bytes("train/diabetes/diabetes.csv", (EXAMPLES / "diabetes.csv").read_bytes())
    manifest = run_training("train/diabetes/diabetes.csv", overrides=FAST_TRAINING, run_id="audit-trail-run")
    registry.promote("diabetes", manifest.version)
    features = pd.read_csv(EXAMPLES / "diabetes.csv").drop(columns=["target"])
    yield manifest, features
    audit.flush()


def _records() -> dict[str, dict]:
    audit.flush()
    found = {}
    for key in storage.list_keys("audit/predictions/"):
        for line in storage.get_bytes(key).body.decode().splitlines():
            record = json.loads(line)
            assert record["request_id"] not in found, "two records for one request"
            found[record["request_id"]] = record
    return found


def test_each_request_kind_leaves_one_record_that_traces_back(trained):
    manifest, features = trained
    client = create_app(load_settings()).test_client()
    row = features.iloc[0].to_dict()
    client.post("/api/v1/predict?project=diabetes", json=row, headers={"X-Request-ID": "json-1"})
    client.post(
        "/api/v1/predict?project=diabetes",
        data=features.head(3).to_csv(index=False),
        content_type="text/csv",
        headers={"X-Request-ID": "csv-1"},
    )
    form = {f"col:{name}": str(value) for name, value in row.items()}
    client.post("/p/diabetes/", data=form, headers={"X-Request-ID": "form-1"})
    upload = {"file": (io.BytesIO(features.head(4).to_csv(index=False).encode()), "rows.csv")}
    client.post("/p/diabetes/upload", data=upload, headers={"X-Request-ID": "upload-1"})
    storage.put_bytes("test/diabetes/batch.csv", features.head(20).to_csv(index=False).encode())
    score_file("test/diabetes/batch.csv", request_id="file-1")
    score_file("test/diabetes/batch.csv", request_id="file-again")  # a duplicate event: no new record

    records = _records()
    channels = {
        rid: records[rid]["channel"] for rid in ("json-1", "csv-1", "form-1", "upload-1", "file-1") if rid in records
    }
    assert channels == {"json-1": "json", "csv-1": "csv", "form-1": "form", "upload-1": "upload", "file-1": "file"}
    assert "file-again" not in records
    one = records["json-1"]
    assert (one["project"], one["model_version"], one["champion"]) == ("diabetes", manifest.version, manifest.champion)
    assert one["inputs"] == [json.loads(pd.DataFrame([row]).to_json(orient="records"))[0]]
    assert set(one["outputs"]) == set(manifest.model_names)
    assert records["file-1"]["predictions_key"] == "predictions/diabetes/batch.csv"
    assert records["file-1"]["rows"] == 20

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    traced = run_cli(endpoint, "audit", "csv-1")
    assert traced.returncode == 0, traced.stderr
    walk = json.loads(traced.stdout)
    assert walk["prediction"]["request_id"] == "csv-1"
    assert walk["model_version"]["run_id"] == "audit-trail-run"
    assert walk["training_data"]["key"] == "train/diabetes/diabetes.csv"
    assert walk["training_data"]["sha256"] == manifest.data.sha256
    assert walk["code"]["git"] == manifest.code.git
    assert walk["config"]["cv_folds"] == 3

    today = datetime.now(UTC).date().isoformat()
    summary = audit.summarize_day(today)
    by_channel = dict(zip(summary["channel"], summary["requests"], strict=True))
    assert by_channel == {"csv": 1, "file": 1, "form": 1, "json": 1, "upload": 1}
    assert set(summary["model_version"]) == {manifest.version}
    assert int(summary.loc[summary["channel"] == "file", "rows"].iloc[0]) == 20
    shown = run_cli(endpoint, "audit", "--day", today)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split() == [
        "project",
        "model_version",
        "channel",
        "engine",
        "requests",
        "rows",
        "p50_ms",
        "p99_ms",
    ]
    bad_day = run_cli(endpoint, "audit", "--day", "23/11/2026")
    assert bad_day.returncode == 2
    assert "day must be YYYY-MM-DD (got '23/11/2026')" in bad_day.stderr
