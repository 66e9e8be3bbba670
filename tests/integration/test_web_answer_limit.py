"""An answer Lambda could not carry (6 MB) is a 413 naming the limit, never API Gateway's bare 502."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from dropml import audit
from dropml.config import load_settings
from dropml.usecases import deploy
from tests.conftest import EXAMPLES
from web import create_app
from web.answer_limit import carried_size

FEATURES = pd.read_csv(EXAMPLES / "breast_cancer.csv").drop(columns=["target"])


def _client(limit: int | None):
    conf = load_settings()
    conf = conf.model_copy(update={"serving": conf.serving.model_copy(update={"max_answer_bytes": limit})})
    return create_app(conf).test_client()


@pytest.fixture
def published(aws, trained_versions):
    manifest = trained_versions.write()
    yield manifest
    audit.flush()


def _rows(count: int) -> pd.DataFrame:
    return pd.concat([FEATURES] * (count // len(FEATURES) + 1)).head(count)


def test_a_csv_whose_answer_lambda_cannot_carry_gets_a_413_through_the_api(published):
    body = _rows(20_000).to_csv(index=False).encode()  # ~2.3 MB in; every model's column and more out
    unlimited = _client(None).post("/api/v1/predict", data=body, content_type="text/csv")
    assert unlimited.status_code == 200
    size = carried_size(unlimited.data, list(unlimited.headers.items()))
    assert size > len(body)

    limited = _client(size - 1).post("/api/v1/predict", data=body, content_type="text/csv")

    assert limited.status_code == 413
    assert limited.json["error"] == "answer_too_large"
    assert f"over serving.max_answer_bytes ({size - 1}" in limited.json["message"]
    assert "dropml predict" in limited.json["message"]
    assert limited.json["request_id"] == limited.headers["X-Request-ID"]
    assert _client(size).post("/api/v1/predict", data=body, content_type="text/csv").status_code == 200


def test_the_upload_page_says_why_in_html(published):
    upload = {"file": (io.BytesIO(_rows(2_000).to_csv(index=False).encode()), "patients.csv")}

    page = _client(64 * 1024).post("/upload", data=upload, content_type="multipart/form-data")

    assert page.status_code == 413
    assert page.mimetype == "text/html"
    assert b"The answer is too large" in page.data
    assert b"serving.max_answer_bytes (65536" in page.data


def test_the_json_lane_answers_are_measured_too(published):
    records = json.loads(_rows(3_000).to_json(orient="records"))
    answer = _client(4096).post("/api/v1/predict", json=records)
    assert answer.status_code == 413
    assert answer.json["error"] == "answer_too_large"


def test_small_answers_pass_untouched_and_the_zappa_stage_sets_lambdas_limit(published):
    one = _client(deploy.LAMBDA_MAX_ANSWER_BYTES).post("/api/v1/predict", json=FEATURES.iloc[0].to_dict())
    assert one.status_code == 200
    assert one.json["model_version"] == 1
    assert deploy.LAMBDA_MAX_ANSWER_BYTES < deploy.LAMBDA_INVOKE_PAYLOAD_BYTES


def test_carried_size_is_escaped_text_or_base64_as_zappa_sends_it():
    text = b'a,"b"\n' * 10
    assert carried_size(text, [("Content-Type", "text/csv")]) == len(json.dumps(text.decode()))
    assert carried_size(text, [("Content-Type", "application/json")]) == len(json.dumps(text.decode()))
    assert carried_size(b"\x00" * 300, [("Content-Type", "application/octet-stream")]) == 400  # base64: 4/3
    assert carried_size(text, [("Content-Type", "text/csv"), ("Content-Encoding", "gzip")]) == 80
