"""The JSON/CSV API under /api/v1 through Flask's test client, against moto over HTTP."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from support.versions import BREAST_CANCER, DIABETES, VERSION_TRAINING, tamper_with_artifact

from dropml import audit
from dropml.config import load_settings
from web import create_app
from web.openapi import openapi_document

FEATURES = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
RECORD = FEATURES.iloc[0].to_dict()


def make_app(**serving):
    conf = load_settings()
    conf = conf.model_copy(update={"serving": conf.serving.model_copy(update=serving)})
    app = create_app(conf)
    app.config["TESTING"] = True
    return app


@pytest.fixture(autouse=True)
def _flush_audit(aws):
    yield
    audit.flush()  # while the stand-in still answers


@pytest.fixture
def client(aws):
    return make_app().test_client()


@pytest.fixture
def published(aws, trained_versions):
    """v1 of the default project, trained on breast_cancer.csv by the real training code, live."""
    return trained_versions.write()


def test_before_any_model_the_api_says_so_with_503(client):
    response = client.post("/api/v1/predict", json=RECORD)
    assert response.status_code == 503
    assert response.json["error"] == "no_live_model"
    assert "has no published model yet" in response.json["message"]
    assert response.headers["X-Request-ID"] == response.json["request_id"]
    health = client.get("/api/v1/health")
    assert health.status_code == 503
    assert health.json["status"] == "no_model"


def test_one_record_gets_every_model_the_champion_and_the_version(published, client):
    response = client.post("/api/v1/predict", json=RECORD, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    body = response.json
    assert body["request_id"] == "abc-123"
    assert response.headers["X-Request-ID"] == "abc-123"
    assert body["model_version"] == 1
    assert body["champion"] == published.champion
    assert body["engine"] == "in-process"
    assert body["rows"] == 1
    assert list(body["models"]) == published.model_names  # leaderboard order, champion first
    assert sorted(body["models"]) == sorted(VERSION_TRAINING["models"])
    assert body["predictions"] == body["models"][published.champion] == ["malignant"]


def test_odd_request_ids_are_replaced(published, client):
    response = client.post("/api/v1/predict", json=RECORD, headers={"X-Request-ID": "bad id\u00e9 <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_champion_only_and_batches(published, client):
    response = client.post("/api/v1/predict?models=champion", json=[RECORD, FEATURES.iloc[1].to_dict()])
    assert response.status_code == 200
    assert list(response.json["models"]) == [published.champion]
    assert response.json["rows"] == 2
    assert len(response.json["predictions"]) == 2


MLFLOW_SHAPES = {
    "dataframe_split": {
        "dataframe_split": {"columns": list(FEATURES.columns), "data": FEATURES.head(3).values.tolist()}
    },
    "dataframe_records": {"dataframe_records": FEATURES.head(3).to_dict("records")},
    "instances": {"instances": FEATURES.head(3).to_dict("records")},
    "instances_lists": {"instances": FEATURES.head(3).values.tolist()},
    "inputs_columns": {"inputs": FEATURES.head(3).to_dict("list")},
    "list": FEATURES.head(3).to_dict("records"),
}


def test_mlflow_input_shapes_give_the_same_answer(published, client):
    expected = client.post("/api/v1/predict", json=FEATURES.head(3).to_dict("records")).json
    for shape, body in MLFLOW_SHAPES.items():
        response = client.post("/api/v1/predict", json=body)
        assert response.status_code == 200, (shape, response.json)
        assert response.json["models"] == expected["models"], shape
        assert response.json["rows"] == 3, shape


def test_csv_body_is_answered_with_csv(published, client):
    body = FEATURES.head(4).to_csv(index=False)
    response = client.post("/api/v1/predict", data=body, content_type="text/csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    out = pd.read_csv(io.BytesIO(response.data))
    assert list(out.columns) == [
        *FEATURES.columns, *(f"pred_{name}" for name in published.model_names),
        "prediction", "champion", "model_version", "request_id", "outside_training_range",
    ]  # fmt: skip
    assert len(out) == 4
    assert set(out["model_version"]) == {1}
    assert response.headers["X-Scoring-Engine"] == "in-process"


def test_json_body_with_accept_csv_gets_csv(published, client):
    response = client.post("/api/v1/predict", json=[RECORD], headers={"Accept": "text/csv"})
    assert response.mimetype == "text/csv"
    assert (
        response.data.decode()
        .splitlines()[0]
        .endswith("prediction,champion,model_version,request_id,outside_training_range")
    )


def test_schema_problems_are_422_with_one_entry_per_field(published, client):
    bad = {**RECORD, "mean_radius": "big", "surprise": 1}
    del bad["mean_area"]
    response = client.post("/api/v1/predict", json=bad)
    assert response.status_code == 422
    problems = {(p["field"], p["message"]) for p in response.json["problems"]}
    assert problems == {
        ("mean_area", "missing field"),
        ("mean_radius", "expected a number, got 'big'"),
    }
    assert response.json["error"] == "bad_input"


def test_csv_problems_name_rows(published, client):
    frame = FEATURES.head(3).astype(object)
    frame.loc[2, "mean_texture"] = "oops"
    response = client.post("/api/v1/predict", data=frame.to_csv(index=False), content_type="text/csv")
    assert response.status_code == 422
    assert response.json["problems"] == [
        {"field": "mean_texture", "message": "expected a number, got 'oops'", "row": 3, "value": "oops"}
    ]


BAD_BODIES = [
    ("", "application/json", 400, "bad_input"),
    ("   ", "application/json", 400, "bad_input"),
    ("{not json", "application/json", 400, "bad_input"),
    ("null", "application/json", 400, "bad_input"),
    ('"text"', "application/json", 400, "bad_input"),
    ("[]", "application/json", 400, "bad_input"),
    ("[null]", "application/json", 422, "bad_input"),
    ("[[]]", "application/json", 422, "bad_input"),
    ('{"dataframe_split": 5}', "application/json", 400, "bad_input"),
    ('{"instances": "x"}', "application/json", 400, "bad_input"),
    ('{"inputs": {"a": 1}}', "application/json", 400, "bad_input"),
    ('{"mean_radius": 1e999}', "application/json", 422, "bad_input"),
    ('{"mean_radius": NaN}', "application/json", 422, "bad_input"),
    ("[" * 5000 + "]" * 5000, "application/json", 400, "bad_input"),
    ("a,b\n1,2", "text/plain", 415, "unsupported_media_type"),
    ("a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("", "text/csv", 400, "bad_input"),
    ("x\n", "text/csv", 400, "bad_input"),
    ('a,"b\n1', "text/csv", 400, "bad_input"),
]


def test_bad_bodies_are_4xx_json_never_500(published, client):
    for data, content_type, status, error in BAD_BODIES:
        response = client.post("/api/v1/predict", data=data, content_type=content_type)
        assert response.status_code == status, (data[:40], response.data[:300])
        assert response.json["error"] == error, data[:40]
        assert response.json["message"]


def test_body_over_the_limit_is_413_from_content_length(aws, trained_versions):
    trained_versions.write()
    client = make_app(max_body_bytes=2048).test_client()
    response = client.post("/api/v1/predict", json=FEATURES.head(20).to_dict("records"))
    assert response.status_code == 413
    assert response.json["error"] == "too_large"
    assert "max_body_bytes" in response.json["message"]


def test_rows_over_max_batch_rows_is_413(aws, trained_versions):
    trained_versions.write()
    client = make_app(max_batch_rows=2).test_client()
    response = client.post("/api/v1/predict", json=FEATURES.head(3).to_dict("records"))
    assert response.status_code == 413
    assert "max_batch_rows" in response.json["message"]


def test_bad_query_parameters_are_400(published, client):
    assert client.post("/api/v1/predict?models=best", json=RECORD).json["field"] == "models"
    response = client.post("/api/v1/predict?project=../etc", json=RECORD)
    assert response.status_code == 400
    assert response.json["field"] == "project"


def test_other_projects_are_separate(published, trained_versions, client):
    trained_versions.write("diabetes", DIABETES)
    record = pd.read_csv(DIABETES).drop(columns=["target"]).iloc[0].to_dict()
    response = client.post("/api/v1/predict?project=diabetes", json=record)
    assert response.status_code == 200
    assert response.json["project"] == "diabetes"
    assert isinstance(response.json["predictions"][0], float)
    unseen = client.post("/api/v1/predict?project=diabetes", json={**record, "sex": "X"})
    assert unseen.status_code == 422
    assert unseen.json["problems"][0]["message"] == "unseen category 'X'; expected one of: F, M"
    nothing = client.post("/api/v1/predict?project=glass", json=record)
    assert nothing.status_code == 503


def test_models_version_and_health(published, client):
    models = client.get("/api/v1/models")
    assert models.status_code == 200
    assert models.json["model_version"] == 1
    assert [m["name"] for m in models.json["models"]] == published.model_names
    assert [m["champion"] for m in models.json["models"]] == [True] + [False] * (len(published.model_names) - 1)
    assert models.json["versions"] == [1]
    manifest = client.get("/api/v1/models/1")
    assert manifest.json["version"] == 1
    assert manifest.json["champion"] == published.champion
    assert manifest.json["run_id"] == published.run_id  # the training run's own manifest
    missing = client.get("/api/v1/models/9")
    assert missing.status_code == 404
    assert missing.json["error"] == "not_found"
    health = client.get("/api/v1/health")
    assert (health.status_code, health.json["status"], health.json["model_version"]) == (200, "ok", 1)


def test_unknown_api_routes_and_methods_answer_json(published, client):
    response = client.get("/api/v1/nope")
    assert (response.status_code, response.json["error"]) == (404, "not_found")
    response = client.get("/api/v1/predict")
    assert (response.status_code, response.json["error"]) == (405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


# ── the OpenAPI document matches the routes and the answers ──────────────────


def _documented_operations() -> set[tuple[str, str]]:
    document = openapi_document()
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def _routed_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            found |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def _served_operations(app) -> set[tuple[str, str]]:
    document = app.test_client().get("/api/v1/openapi.json").json
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_operation_exists(aws):
    app = make_app()
    routed, served = _routed_operations(app), _served_operations(app)
    undocumented = routed - served
    assert not undocumented, f"document these in the blueprint module's OPENAPI_PATHS: {sorted(undocumented)}"
    assert served - routed == set()
    assert _documented_operations() <= routed


def _validator(schema: dict):
    document = openapi_document()
    resource = Resource.from_contents({**document, "$schema": "https://json-schema.org/draft/2020-12/schema"})
    registry = Registry().with_resource("urn:openapi", resource)
    wrapped = json.loads(json.dumps(schema).replace('"#/components', '"urn:openapi#/components'))
    return Draft202012Validator(wrapped, registry=registry)


CALLS = [
    ("POST", "/api/v1/predict", {"json": RECORD}, 200),
    ("POST", "/api/v1/predict", {"data": FEATURES.head(2).to_csv(index=False), "content_type": "text/csv"}, 200),
    ("POST", "/api/v1/predict", {"json": {"mean_radius": "x"}}, 422),
    ("POST", "/api/v1/predict", {"data": "", "content_type": "application/json"}, 400),
    ("POST", "/api/v1/predict", {"data": "x", "content_type": "text/plain"}, 415),
    ("POST", "/api/v1/predict?project=glass", {"json": RECORD}, 503),
    ("GET", "/api/v1/models", {}, 200),
    ("GET", "/api/v1/models?project=glass", {}, 503),
    ("GET", "/api/v1/models?project=Bad!", {}, 400),
    ("GET", "/api/v1/models/1", {}, 200),
    ("GET", "/api/v1/models/7", {}, 404),
    ("GET", "/api/v1/health", {}, 200),
    ("GET", "/api/v1/health?project=glass", {}, 503),
    ("GET", "/api/v1/openapi.json", {}, 200),
    ("GET", "/api/v1/forecast", {}, 400),  # the default project is not time-ordered
    ("GET", "/api/v1/forecast?project=crypto", {}, 404),  # nothing scored yet (200: test_byom_keras_onnx.py)
    ("GET", "/api/v1/projects/default/monitoring", {}, 200),  # with reports: tests/integration/test_monitoring.py
    ("GET", "/api/v1/projects/default/monitoring?days=0", {}, 400),
]


def test_every_documented_operation_answers_as_documented(published, client):
    document = openapi_document()
    exercised = set()
    for method, url, kwargs, status in CALLS:
        response = client.open(url, method=method, **kwargs)
        path = re.sub(r"/projects/[^/]+/", "/projects/{project}/", re.sub(r"/\d+$", "/{version}", url.split("?")[0]))
        exercised.add((path, method))
        operation = document["paths"][path][method.lower()]
        assert response.status_code == status, (url, response.data[:200])
        documented = operation["responses"][str(status)]
        assert response.mimetype in documented["content"], (url, response.mimetype)
        assert response.headers["X-Request-ID"]
        if response.mimetype == "application/json":
            schema = documented["content"]["application/json"]["schema"]
            errors = list(_validator(schema).iter_errors(response.json))
            assert errors == [], (url, [e.message for e in errors])
    assert exercised == _documented_operations()


def test_batches_over_the_threshold_are_scored_on_dask_with_the_same_answer(published):
    records = FEATURES.head(40).to_dict("records")
    on_dask = make_app().test_client().post("/api/v1/predict", json=records)
    in_process = make_app().test_client().post("/api/v1/predict", json=records[:10])
    assert on_dask.status_code == 200, on_dask.json
    assert on_dask.json["engine"] == "dask"
    assert on_dask.headers["X-Scoring-Engine"] == "dask"
    assert in_process.json["engine"] == "in-process"
    for name in published.model_names:
        assert on_dask.json["models"][name][:10] == in_process.json["models"][name], name
    assert on_dask.json["predictions"] == published_predictions(records, published.champion)


def published_predictions(records: list[dict], model: str) -> list:
    from dropml.scoring import load_version

    loaded = load_version("default", 1)
    return loaded.pipelines[model].predict(pd.DataFrame(records)).tolist()


def test_a_tampered_new_version_keeps_the_old_one_serving_and_health_says_why(aws, trained_versions):
    import time

    trained_versions.write()
    client = make_app(model_ttl_seconds=0).test_client()
    assert client.post("/api/v1/predict", json=RECORD).json["model_version"] == 1
    v2 = trained_versions.write()  # v2 made live while its checksums matched (the app has not loaded it yet) ...
    tamper_with_artifact(v2, "random_forest")  # ... then its pickle is replaced in S3, behind the registry's back
    deadline = time.monotonic() + 10
    while client.get("/api/v1/health").json["status"] != "degraded":
        assert time.monotonic() < deadline, client.get("/api/v1/health").json
        time.sleep(0.05)
    answer = client.post("/api/v1/predict", json=RECORD)
    assert (answer.status_code, answer.json["model_version"]) == (200, 1)
    health = client.get("/api/v1/health")
    assert health.status_code == 200
    assert (health.json["model_version"], health.json["live_version"]) == (1, 2)
    assert "live version v2 could not be loaded: ChecksumMismatch" in health.json["reason"]
