"""The manifest stays readable across versions of dropml: one written before compile reasons or explanations loads."""

from __future__ import annotations

import json
import pickle

import pytest

from dropml.manifest import Manifest
from dropml.scoring.load import LoadedVersion, NotExplained

BEFORE_COMPILE_REASONS = {  # as 7d9175e wrote it: one compiled model, one not, no reason recorded
    "format": 1,
    "project": "default",
    "version": 3,
    "created_at": "2026-12-01T10:00:00.000Z",
    "run_id": "r1",
    "code": {"dropml": "0.1.0", "git": "7d9175e", "python": "3.11.7", "libraries": {"scikit-learn": "1.9.1"}},
    "config": {},
    "target": "y",
    "task": "regression",
    "input_schema": {"columns": [{"name": "x", "dtype": "float64", "kind": "numeric"}]},
    "artifacts": {
        name: {"key": f"models/default/v3/{name}", "sha256": "0" * 64, "bytes": 1}
        for name in ("linear", "linear.onnx", "forest")
    },
    "models": [
        {"name": "linear", "estimator": "linear", "artifact": "linear", "rank": 1, "metrics": {"rmse": 1.0},
         "compiled": {"artifact": "linear.onnx", "input_columns": ["x"], "checked_rows": 20}},
        {"name": "forest", "estimator": "random_forest", "artifact": "forest", "rank": 2, "metrics": {"rmse": 2.0}},
    ],
    "rank_metric": "rmse",
    "champion": "linear",
}  # fmt: skip


def test_a_manifest_from_before_compile_reasons_loads_and_names_what_scikit_learn_serves():
    manifest = Manifest.model_validate_json(json.dumps(BEFORE_COMPILE_REASONS))
    assert manifest.model("linear").compiled.input_columns == ["x"]
    assert manifest.model("forest").not_compiled is None
    assert manifest.uncompiled == {"forest": "no compiled form recorded"}


def test_a_reason_is_kept_and_read_back():
    document = json.loads(json.dumps(BEFORE_COMPILE_REASONS))
    document["models"][1]["not_compiled"] = "RandomTreesEmbedding has no compiled form"
    manifest = Manifest.model_validate_json(json.dumps(document))
    assert manifest.uncompiled == {"forest": "RandomTreesEmbedding has no compiled form"}
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest


def test_a_version_from_before_explanations_loads_and_says_so_when_asked_for_reasons():
    manifest = Manifest.model_validate_json(json.dumps(BEFORE_COMPILE_REASONS))
    assert manifest.model("linear").explainer is None
    assert manifest.model("linear").not_explained is None
    loaded = LoadedVersion(manifest=manifest, pipelines={})
    with pytest.raises(NotExplained, match="published before explanations"):
        loaded.champion_explainer()


def test_an_explainer_entry_is_kept_and_read_back():
    document = json.loads(json.dumps(BEFORE_COMPILE_REASONS))
    document["models"][0]["explainer"] = {
        "artifact": "linear.explainer.npz",
        "method": "linear",
        "scale": "value",
        "importance": {"x": 0.5},
        "importance_rows": 20,
    }
    manifest = Manifest.model_validate_json(json.dumps(document))
    assert manifest.model("linear").explainer.importance == {"x": 0.5}
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest


def test_a_loaded_version_goes_to_a_dask_worker_without_its_explainers():
    manifest = Manifest.model_validate_json(json.dumps(BEFORE_COMPILE_REASONS))
    loaded = LoadedVersion(manifest=manifest, pipelines={})
    loaded.explainers["linear"] = "a read explainer"  # stands for one: tens of MB for a big forest
    copied = pickle.loads(pickle.dumps(loaded))
    assert copied.explainers == {}
    assert copied.manifest == manifest
    assert loaded.explainers == {"linear": "a read explainer"}
