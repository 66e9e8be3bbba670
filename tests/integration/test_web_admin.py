"""The admin and experiments API: the key is enforced, refusals are logged without the key, actions work."""

from __future__ import annotations

import io
import json
import logging

import joblib
import pytest
from sklearn.dummy import DummyClassifier
from support.versions import BREAST_CANCER

from dropml import audit, registry, security, storage
from dropml.aws import client as aws_client
from dropml.config import load_settings
from web import create_app

KEY = "s3cret-admin-key-do-not-log"


def make_client(admin_api_key: str | None = KEY):
    conf = load_settings().model_copy(update={"admin_api_key": admin_api_key})
    return create_app(conf).test_client()


@pytest.fixture(autouse=True)
def _clean(aws):
    security.reset_key_cache()
    yield
    audit.flush()


def _versions(trained_versions, project: str, count: int) -> None:
    """``count`` versions of ``project`` made by the real training code, each made live in turn."""
    for _ in range(count):
        trained_versions.write(project)


def test_missing_wrong_and_switched_off_keys_are_refused_and_logged_without_the_key(trained_versions, caplog):
    _versions(trained_versions, "default", 2)
    client = make_client()
    caplog.set_level(logging.WARNING)
    missing = client.post("/api/v1/admin/projects/default/rollback")
    assert missing.status_code == 401
    assert missing.json["error"] == "unauthorized"
    wrong = client.post("/api/v1/admin/projects/default/rollback", headers={"X-API-Key": "guess"})
    assert wrong.status_code == 403
    assert wrong.json["message"] == "the admin API key is not valid"
    assert registry.live_version("default").version == 2  # nothing happened
    refusals = [r for r in caplog.records if r.getMessage().startswith("admin refused")]
    assert [r.getMessage() for r in refusals] == ["admin refused: no key", "admin refused: wrong key"]
    assert all(r.action == "/api/v1/admin/projects/default/rollback" for r in refusals)
    assert KEY not in caplog.text
    assert "guess" not in caplog.text
    off = make_client(admin_api_key=None).post("/api/v1/admin/projects/default/rollback", headers={"X-API-Key": KEY})
    assert off.status_code == 403
    assert "admin API is switched off" in off.json["message"]


def test_the_key_can_live_in_ssm_securestring(trained_versions):
    _versions(trained_versions, "default", 2)
    aws_client("ssm").put_parameter(Name=security.admin_key_parameter(), Value=KEY, Type="SecureString")
    client = make_client(admin_api_key=None)
    answer = client.post("/api/v1/admin/projects/default/rollback", headers={"X-API-Key": KEY})
    assert answer.status_code == 200
    assert answer.json == {"project": "default", "live_version": 1, "was": 2}


def test_promote_rollback_and_bad_input(trained_versions):
    _versions(trained_versions, "glass", 2)
    client = make_client()
    headers = {"X-API-Key": KEY}
    assert client.post("/api/v1/admin/projects/glass/rollback", headers=headers).json["live_version"] == 1
    promoted = client.post("/api/v1/admin/projects/glass/promote", json={"version": 2}, headers=headers)
    assert promoted.json == {"project": "glass", "live_version": 2, "was": 1}
    bad = client.post("/api/v1/admin/projects/glass/promote", json={"version": "two"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json["field"] == "version"
    missing = client.post("/api/v1/admin/projects/glass/promote", json={"version": 9}, headers=headers)
    assert missing.status_code == 404
    assert "has no version 9" in missing.json["message"]
    odd = client.post("/api/v1/admin/projects/..%2Fx/rollback", headers=headers)
    assert odd.status_code in (400, 404)


def test_register_a_model_through_the_api():
    client = make_client()
    model = DummyClassifier(strategy="most_frequent").fit([[0.0], [1.0]], ["no", "yes"])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    schema = {
        "target": "label",
        "task": "classification",
        "columns": [{"name": "x", "dtype": "float64", "kind": "numeric"}],
    }
    files = {
        "model": (io.BytesIO(buffer.getvalue()), "model.pkl"),
        "schema": (io.BytesIO(json.dumps(schema).encode()), "schema.json"),
    }
    answer = client.post("/api/v1/admin/projects/people/register", data=files, headers={"X-API-Key": KEY})
    assert answer.status_code == 201, answer.json
    assert answer.json == {"project": "people", "version": 1, "champion": "registered"}
    nothing = client.post("/api/v1/admin/projects/people/register", data={}, headers={"X-API-Key": KEY})
    assert nothing.status_code == 400
    assert "files 'model' and 'schema'" in nothing.json["message"]


def test_experiments_end_to_end_against_the_stand_in(trained_versions):
    client = make_client()
    headers = {"X-API-Key": KEY}
    storage.put_bytes("train/cancer.csv", BREAST_CANCER.read_bytes())
    refused = client.post("/api/v1/experiments", json={"name": "cancer", "data_key": "train/cancer.csv"})
    assert refused.status_code == 401
    created = client.post(
        "/api/v1/experiments",
        json={"name": "cancer", "data_key": "train/cancer.csv", "overrides": {"cv_folds": 3}},
        headers=headers,
    )
    assert created.status_code == 202
    assert created.json["data_key"] == "train/cancer/cancer.csv"
    again = client.post("/api/v1/experiments", json={"name": "cancer", "data_key": "train/cancer.csv"}, headers=headers)
    assert again.status_code == 409
    invalid = client.post(
        "/api/v1/experiments",
        json={"name": "other", "data_key": "train/cancer.csv", "overrides": {"cv_folds": 0}},
        headers=headers,
    )
    assert invalid.status_code == 422
    assert invalid.json["field"] == "overrides"

    _versions(trained_versions, "cancer", 2)  # what the training code makes (the job itself is tested elsewhere)
    listed = client.get("/api/v1/experiments").json["experiments"]
    assert {"name": "cancer", "live_version": 2, "versions": 2} in listed
    shown = client.get("/api/v1/experiments/cancer").json
    assert shown["overrides"] == {"cv_folds": 3}
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    live = client.delete("/api/v1/experiments/cancer/versions/2", headers=headers)
    assert live.status_code == 409
    archived = client.delete("/api/v1/experiments/cancer/versions/1", headers=headers)
    assert archived.json == {"name": "cancer", "version": 1, "archived": True}
    assert client.get("/api/v1/experiments/cancer").json["versions"][0]["archived"] is True

    features = BREAST_CANCER.read_text().splitlines()
    header = features[0].split(",")
    keep = [i for i, column in enumerate(header) if column != "target"]
    body = "\n".join(",".join(line.split(",")[i] for i in keep) for line in features[:4])
    predicted = client.post(
        "/api/v1/experiments/cancer/predict", data=body, content_type="text/csv", headers={"Accept": "application/json"}
    )
    assert predicted.status_code == 200
    assert predicted.json["model_version"] == 2
    assert predicted.json["rows"] == 3
    evaluated = client.post(
        "/api/v1/experiments/cancer/evaluate", data=BREAST_CANCER.read_bytes(), content_type="text/csv"
    )
    assert evaluated.status_code == 200
    assert evaluated.json["rows"] == 569
    assert evaluated.json["metrics"][evaluated.json["champion"]]["accuracy"] > 0.9
    unknown = client.get("/api/v1/experiments/nope")
    assert unknown.status_code == 404


def test_every_new_route_is_in_the_openapi_document():
    document = make_client().get("/api/v1/openapi.json").json
    assert "/api/v1/admin/projects/{project}/promote" in document["paths"]
    assert set(document["paths"]["/api/v1/experiments/{name}"]) == {"get", "patch"}
    assert "delete" in document["paths"]["/api/v1/experiments/{name}/versions/{version}"]


def test_on_lambda_each_request_writes_its_audit_record_before_returning(trained_versions):
    trained_versions.write()
    conf = load_settings()
    conf = conf.model_copy(update={"audit": conf.audit.model_copy(update={"flush_every_request": True})})
    client = create_app(conf).test_client()
    features = BREAST_CANCER.read_text().splitlines()
    keep = [i for i, column in enumerate(features[0].split(",")) if column != "target"]
    body = "\n".join(",".join(line.split(",")[i] for i in keep) for line in features[:2])
    answer = client.post(
        "/api/v1/predict", data=body, content_type="text/csv", headers={"X-Request-ID": "lambda-req-1"}
    )
    assert answer.status_code == 200
    assert audit.prediction_buffer().pending() == 0
    written = [key for key in storage.list_keys("audit/predictions/") if b"lambda-req-1" in storage.get_bytes(key).body]
    assert len(written) == 1
