"""The JSON lane (web/json_lane.py) over real HTTP: the same answers, errors and audit as the Flask route alone.

Two apps serve the same live version (the real training job's, on
breast_cancer.csv) on 127.0.0.1: one as configured (the lane on), one with
``serving.json_lane: false``, so every request goes through Flask. Each
request below is sent to both; status, body and the headers a client reads
must be the same, and each answered prediction has exactly one audit record.
Flask's ``request_started`` signal shows which requests the lane answered.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from flask import request, request_started
from support.live_server import post, serving
from support.versions import BREAST_CANCER

from dropml import audit, storage
from dropml.config import load_settings

FEATURES = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
RECORD = FEATURES.iloc[0].to_dict()
RECORDS = FEATURES.head(3).to_dict(orient="records")
SPLIT = FEATURES.head(2).to_dict(orient="split", index=False)
WITHOUT_RADIUS = json.dumps({k: v for k, v in RECORD.items() if k != "mean_radius"})
HUGE_INT = ('{"mean_radius": 1' + "0" * 4999 + ", " + WITHOUT_RADIUS[1:]).encode()  # past Python's int-text limit
JSON = "application/json"

# (name, query, body, content type, accept): plain requests the lane answers, and ones it must hand to Flask
REQUESTS: list[tuple[str, str, bytes, str, str | None]] = [
    ("one record", "", json.dumps(RECORD).encode(), JSON, None),
    ("champion only", "?models=champion", json.dumps(RECORD).encode(), JSON, None),
    ("project named", "?project=default&models=all", json.dumps(RECORD).encode(), JSON, "application/json"),
    ("extra fields", "", json.dumps({"id": "p-1", **RECORD, "target": "benign"}).encode(), JSON, "*/*"),
    ("numbers as text", "", json.dumps({k: str(v) for k, v in RECORD.items()}).encode(), JSON, None),
    ("a list", "", json.dumps(RECORDS).encode(), JSON + "; charset=utf-8", None),
    ("over the Dask threshold", "", json.dumps(FEATURES.head(40).to_dict(orient="records")).encode(), JSON, None),
    ("dataframe_split", "", json.dumps({"dataframe_split": SPLIT}).encode(), JSON, None),
    ("instances", "", json.dumps({"instances": RECORDS}).encode(), JSON, None),
    ("a missing field", "", WITHOUT_RADIUS.encode(), JSON, None),
    ("a bad value", "", json.dumps({**RECORD, "mean_radius": "wide"}).encode(), JSON, None),
    ("not JSON", "", b'{"mean_radius": 1,', JSON, None),
    ("an empty list", "", b"[]", JSON, None),
    ("a bad models choice", "?models=best", json.dumps(RECORD).encode(), JSON, None),
    ("a bad project name", "?project=../etc", json.dumps(RECORD).encode(), JSON, None),
    ("a project with no model", "?project=nothing-here", json.dumps(RECORD).encode(), JSON, None),
    ("a repeated query key", "?models=champion&models=all", json.dumps(RECORD).encode(), JSON, None),
    ("reasons asked for", "?explain=true", json.dumps(RECORD).encode(), JSON, None),  # Flask's: not the lane's
    ("a bad explain value", "?explain=maybe", json.dumps(RECORD).encode(), JSON, None),
    ("CSV asked for", "", json.dumps(RECORDS).encode(), JSON, "text/csv"),
    ("a CSV body", "", FEATURES.head(2).to_csv(index=False).encode(), "text/csv", None),
    ("an int over 64 bits", "", json.dumps({**RECORD, "mean_radius": 10**40}).encode(), JSON, None),  # 1e40
    ("an int of 5000 digits", "", HUGE_INT, JSON, None),
]
LANE_ANSWERS = {"one record", "champion only", "project named", "extra fields", "numbers as text", "a list",
                "over the Dask threshold", "dataframe_split", "instances"}  # fmt: skip
READ_HEADERS = ("Content-Type", "X-Model-Version", "X-Scoring-Engine", "X-Ignored-Columns")


@pytest.fixture
def two_apps(aws, trained_versions):
    trained_versions.write()
    conf = load_settings()
    flask_only = conf.model_copy(update={"serving": conf.serving.model_copy(update={"json_lane": False})})
    with serving(conf) as lane_url, serving(flask_only) as flask_url:
        yield lane_url, flask_url


def _comparable(body: bytes, content_type: str) -> object:
    """The body with its request id taken out (each app is sent its own id)."""
    if content_type.startswith(JSON):
        found = json.loads(body)
        found.pop("request_id", None)
        return found
    table = pd.read_csv(io.BytesIO(body), keep_default_na=False)  # an empty cell is '' (NaN != NaN)
    return table.drop(columns=["request_id"]).to_dict(orient="list")


def test_the_lane_answers_as_flask_does_and_hands_it_everything_else(two_apps):
    lane_url, flask_url = two_apps
    started: list[str] = []

    def seen(sender, **_):
        started.append(request.headers.get("X-Request-ID", ""))

    request_started.connect(seen)
    try:
        answered = {}
        for position, (name, query, body, content_type, accept) in enumerate(REQUESTS):
            lane = post(lane_url + "/api/v1/predict" + query, body, content_type, accept, f"lane-{position}")
            flask = post(flask_url + "/api/v1/predict" + query, body, content_type, accept, f"flask-{position}")
            assert lane[0] == flask[0], (name, lane[2][:300], flask[2][:300])
            assert lane[1]["X-Request-ID"] == f"lane-{position}", name
            for header in READ_HEADERS:
                assert lane[1].get(header) == flask[1].get(header), (name, header)
            same = _comparable(lane[2], lane[1]["Content-Type"]) == _comparable(flask[2], flask[1]["Content-Type"])
            assert same, (name, lane[2][:300], flask[2][:300])
            answered[name] = lane[0]
    finally:
        request_started.disconnect(seen)

    through_flask = {REQUESTS[int(rid.split("-")[1])][0] for rid in started if rid.startswith("lane-")}
    assert through_flask == {name for name, *_ in REQUESTS} - LANE_ANSWERS  # the lane answered exactly the plain ones
    assert {answered[name] for name in LANE_ANSWERS} == {200}
    assert answered["a missing field"] == answered["a bad value"] == 422
    assert answered["not JSON"] == answered["a bad models choice"] == 400
    assert answered["a project with no model"] == 503
    assert answered["an int over 64 bits"] == answered["an int of 5000 digits"] == 422  # beyond float32 range


def test_each_lane_answer_is_audited_once_with_its_rows(two_apps):
    lane_url, _ = two_apps
    status, _, body = post(lane_url + "/api/v1/predict", json.dumps(RECORDS).encode(), JSON, None, "lane-audit-1")
    assert status == 200, body[:300]
    audit.flush()
    record = audit.find_prediction("lane-audit-1")
    assert record["channel"] == "json"
    assert record["rows"] == 3
    assert record["inputs"][0]["mean_radius"] == RECORDS[0]["mean_radius"]
    assert record["outputs"] == json.loads(body)["models"]
    assert record["inputs_sha256"] == audit.hash_inputs(json.dumps(RECORDS).encode())
    lines = [
        line
        for key in storage.list_keys("audit/predictions/")
        for line in storage.get_bytes(key).body.splitlines()
        if b'"lane-audit-1"' in line
    ]
    assert len(lines) == 1
