"""Serving what the real training job publishes: the API, the form and score_file on run_training's output."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from fakes import FAST_TRAINING

from dropml import audit, registry, storage
from dropml.config import load_settings
from dropml.scoring import load_version
from dropml.usecases.score_file import score_file
from dropml.usecases.train import run_training
from web import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def client(aws):
    app = create_app(load_settings())
    app.config["TESTING"] = True
    yield app.test_client()
    audit.flush()


def _train(key: str, example: str) -> tuple[pd.DataFrame, object]:
    storage.put_bytes(key, (EXAMPLES / example).read_bytes(), "text/csv")
    manifest = run_training(key, overrides=FAST_TRAINING)
    if registry.live_version(manifest.project) is None:  # the publish event's work, done here
        registry.promote(manifest.project, manifest.version)
    return pd.read_csv(EXAMPLES / example), manifest


def test_trained_classification_version_serves_every_model_and_scores_files(client):
    data, manifest = _train("train/breast_cancer.csv", "breast_cancer.csv")
    loaded = load_version("default", manifest.version)
    assert set(loaded.model_names) == set(FAST_TRAINING["models"])
    features = data.drop(columns=["target"])
    response = client.post("/api/v1/predict", json=features.head(5).to_dict("records"))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["champion"] == manifest.champion
    assert set(body["models"]) == set(FAST_TRAINING["models"])
    assert set(body["predictions"]) <= {"benign", "malignant"}
    expected = loaded.pipelines[manifest.champion].predict(features.head(5))
    assert body["predictions"] == expected.tolist()

    storage.put_bytes("test/holdout.csv", data.head(40).to_csv(index=False).encode(), "text/csv")
    out_key = score_file("test/holdout.csv", request_id="trained")
    out = pd.read_csv(io.BytesIO(storage.get_bytes(out_key).body))
    assert len(out) == 40
    assert out["target"].tolist() == data["target"].head(40).tolist()  # extra columns pass through
    assert (out["prediction"] == out["target"]).mean() > 0.8

    page = client.get("/models").get_data(as_text=True)
    plots = [key for key in manifest.reports.values() if key.endswith(".png")]
    assert plots
    assert page.count("<img") == len(plots)  # the job's plots are shown inline, not as links


def test_trained_regression_with_a_categorical_column_through_form_and_api(client):
    data, manifest = _train("train/diabetes/diabetes.csv", "diabetes.csv")
    features = data.drop(columns=["target"])
    record = features.iloc[0].to_dict()
    page = client.get("/p/diabetes/")
    assert page.status_code == 200
    assert 'name="col:sex"' in page.data.decode()
    form = client.post("/p/diabetes/", data={f"col:{k}": str(v) for k, v in record.items()})
    assert form.status_code == 200
    assert "★ champion" in form.data.decode()
    response = client.post("/api/v1/predict?project=diabetes&models=champion", json=record)
    assert response.status_code == 200, response.json
    assert list(response.json["models"]) == [manifest.champion]
    assert isinstance(response.json["predictions"][0], float)
    unseen = client.post("/api/v1/predict?project=diabetes", json={**record, "sex": "X"})
    assert unseen.status_code == 422
    assert unseen.json["problems"][0]["field"] == "sex"
