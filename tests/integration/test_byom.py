"""Bring your own model: a hand-made pickle and scaler become a servable version."""

from __future__ import annotations

import io
import json

import joblib
import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dropml import registry
from dropml.errors import BadInput
from dropml.scoring import load_version, validate_frame
from dropml.scoring.load import predict_in_process
from dropml.usecases import register

SCHEMA = {
    "target": "label",
    "task": "classification",
    "classes": ["no", "yes"],
    "columns": [
        {"name": "height", "dtype": "float64", "kind": "numeric", "minimum": 100, "maximum": 200},
        {"name": "weight", "dtype": "float64", "kind": "numeric", "minimum": 30, "maximum": 150},
    ],
    "metrics": {"accuracy": 0.9},
}


def _pickles() -> tuple[bytes, bytes]:
    rng = np.random.default_rng(0)
    x = rng.normal([150, 80], [20, 20], size=(200, 2))
    y = np.where(x[:, 0] + x[:, 1] > 230, "yes", "no")
    scaler = StandardScaler().fit(x)
    model = LogisticRegression().fit(scaler.transform(x), y)
    return _dump(model), _dump(scaler)


def _dump(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def test_registered_model_and_scaler_predict_like_the_originals(aws):
    model_bytes, scaler_bytes = _pickles()
    manifest = register.register_model("people", model_bytes, json.dumps(SCHEMA), scaler_bytes)
    assert (manifest.version, manifest.source, manifest.champion) == (1, "registered", "registered")
    served = joblib.load(io.BytesIO(registry.read_artifact(manifest.artifacts["registered"])))
    rows = pd.DataFrame({"height": [120.0, 190.0], "weight": [40.0, 120.0]})
    model, scaler = joblib.load(io.BytesIO(model_bytes)), joblib.load(io.BytesIO(scaler_bytes))
    assert list(served.predict(rows)) == list(model.predict(scaler.transform(rows.to_numpy())))
    assert list(served.predict(rows)) == ["no", "yes"]
    entry = manifest.model("registered")  # compiled like a trained model: served without scikit-learn
    assert (entry.compiled.artifact, entry.compiled.checked_rows, entry.not_compiled) == ("registered.onnx", 500, None)
    loaded = load_version("people", manifest.version)
    checked = validate_frame(loaded.schema, rows)
    assert loaded.compiled["registered"].predict(checked).tolist() == ["no", "yes"]
    gap = validate_frame(loaded.schema, pd.DataFrame({"height": [120.0], "weight": [None]}))
    with pytest.raises(BadInput, match="takes no missing values") as refused:  # as scikit-learn refuses it: a 422
        predict_in_process(loaded, gap, ["registered"])
    assert refused.value.http_status == 422


def test_a_registered_pipeline_compiles_when_its_steps_do_and_is_named_when_one_does_not(aws):
    rng = np.random.default_rng(1)
    x = rng.normal([150, 80], [20, 20], size=(300, 2))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = np.where(np.nan_to_num(x[:, 0], nan=150) + np.nan_to_num(x[:, 1], nan=80) > 230, "yes", "no")
    labelled = pd.DataFrame(x, columns=["height", "weight"]).assign(label=y).head(80).to_csv(index=False).encode()
    forest = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=20, random_state=0)).fit(x, y)
    manifest = register.register_model("trees", _dump(forest), json.dumps(SCHEMA), labelled_csv=labelled)
    assert manifest.model("registered").compiled.checked_rows == 80 + 500  # the labelled rows and the schema's
    with_pca = make_pipeline(SimpleImputer(), PCA(n_components=2), LogisticRegression()).fit(x, y)
    manifest = register.register_model("pca", _dump(with_pca), json.dumps(SCHEMA))
    entry = manifest.model("registered")
    assert (entry.compiled, entry.not_compiled) == (None, "PCA has no compiled form")
    loaded = load_version("pca", manifest.version)
    rows = validate_frame(loaded.schema, pd.DataFrame({"height": [120.0, 190.0], "weight": [40.0, 120.0]}))
    assert loaded.compiled == {}
    assert list(loaded.pipelines["registered"].predict(rows)) == list(with_pca.predict(rows.to_numpy()))


def test_a_model_that_fails_on_its_schema_is_refused_and_nothing_is_written(aws):
    model_bytes, _ = _pickles()
    three_columns = {**SCHEMA, "columns": [*SCHEMA["columns"], {"name": "age", "dtype": "float64", "kind": "numeric"}]}
    with pytest.raises(BadInput, match="failed to predict a sample row of its schema"):
        register.register_model("people", model_bytes, json.dumps(three_columns))
    assert registry.list_versions("people") == []
    assert registry.claimed_versions("people") == []


def test_garbage_pickle_and_bad_schema_are_named(aws):
    with pytest.raises(BadInput, match=r"model\.pkl could not be loaded as a pickle"):
        register.register_model("people", b"not a pickle", json.dumps(SCHEMA))
    with pytest.raises(BadInput, match=r"schema\.json: task: String should match pattern"):
        register.register_model("people", _pickles()[0], json.dumps({**SCHEMA, "task": "clustering"}))


def test_register_from_the_cli(aws, tmp_path):
    model_bytes, scaler_bytes = _pickles()
    (tmp_path / "model.pkl").write_bytes(model_bytes)
    (tmp_path / "scaler.pkl").write_bytes(scaler_bytes)
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    args = ["register", "people", "--model", str(tmp_path / "model.pkl"), "--scaler", str(tmp_path / "scaler.pkl")]
    result = run_cli(aws.endpoint, *args, "--schema", str(tmp_path / "schema.json"), "--promote")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["people: registered model.pkl as v1", "people: v1 is live"]
    assert registry.live_version("people").version == 1
    (tmp_path / "schema.json").write_text("{not json")
    bad = run_cli(aws.endpoint, *args, "--schema", str(tmp_path / "schema.json"))
    assert bad.returncode == 2
    assert "schema.json is not valid JSON" in bad.stderr
