"""The compiled predict path: ONNX made at publish time by the real training code, served only when it agrees.

Every served model's answers (through the API, as a user gets them) are compared with scikit-learn's
pipeline on the holdout rows the version was checked on, for a classification set that compiles and a
regression set with a categorical column that does not (served by scikit-learn, unchanged).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from support.versions import BREAST_CANCER, DIABETES

from dropml import registry
from dropml.config import load_settings
from dropml.scoring import load_version, validate_frame
from dropml.scoring.onnx_runtime import predict_frame
from dropml.storage import keys
from web import create_app


def _holdout(trained_versions, project, csv, overrides=None):
    trained = trained_versions.trained(project, csv, overrides)
    rows = trained.cleaned.features.iloc[trained.split.holdout].reset_index(drop=True)
    return trained, rows


def _served(project: str, rows) -> dict:
    app = create_app(load_settings())
    app.config["TESTING"] = True
    records = rows.to_dict(orient="records")
    response = app.test_client().post(f"/api/v1/predict?project={project}", json=records)
    assert response.status_code == 200, response.data[:300]
    return response.json["models"]


def test_breast_cancer_models_compile_and_serve_scikit_learns_answers_on_the_holdout(aws, trained_versions):
    manifest = trained_versions.write()
    trained, rows = _holdout(trained_versions, keys.DEFAULT_PROJECT, BREAST_CANCER)
    compiled = {entry.name: entry.compiled for entry in manifest.models if entry.compiled is not None}
    assert {"linear", "random_forest"} <= set(compiled)
    for form in compiled.values():
        assert form.checked_rows == len(trained.split.holdout)
        assert form.artifact in manifest.artifacts
    loaded = load_version(keys.DEFAULT_PROJECT, manifest.version)
    assert set(loaded.compiled) == set(compiled)
    checked = validate_frame(loaded.schema, rows)
    served = _served(keys.DEFAULT_PROJECT, rows)
    assert set(served) == set(manifest.model_names)
    for name, values in served.items():
        assert values == loaded.pipelines[name].predict(checked).tolist(), name


WITH_BOOSTING = {
    "cv_folds": 2,
    "models": {
        "boosting": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 30}},
        "knn": {"estimator": "knn"},
        "linear": {"estimator": "linear"},
    },
}


def test_boosted_trees_and_neighbours_compile_too_and_answer_as_scikit_learn(aws, trained_versions):
    # skl2onnx 1.20 cannot convert a HistGradientBoosting classifier as shipped (a bool where protobuf wants
    # an int; probabilities declared double); compile works around both, and the holdout check still decides.
    manifest = trained_versions.write("boosted", BREAST_CANCER, overrides=WITH_BOOSTING)
    assert {entry.name for entry in manifest.models if entry.compiled is not None} == {"boosting", "knn", "linear"}
    _, rows = _holdout(trained_versions, "boosted", BREAST_CANCER, WITH_BOOSTING)
    loaded = load_version("boosted", manifest.version)
    checked = validate_frame(loaded.schema, rows)
    for name, values in _served("boosted", rows).items():
        assert values == loaded.pipelines[name].predict(checked).tolist(), name


def test_a_model_that_cannot_compile_is_served_by_scikit_learn_unchanged(aws, trained_versions):
    manifest = trained_versions.write("diabetes", DIABETES)  # the categorical 'sex': not compiled
    assert all(entry.compiled is None for entry in manifest.models)
    assert not any(name.endswith(".onnx") for name in manifest.artifacts)
    _, rows = _holdout(trained_versions, "diabetes", DIABETES)
    loaded = load_version("diabetes", manifest.version)
    assert loaded.compiled == {}
    checked = validate_frame(loaded.schema, rows)
    for name, values in _served("diabetes", rows).items():
        np.testing.assert_array_equal(values, loaded.pipelines[name].predict(checked), err_msg=name)


def test_compiled_models_pickle_for_dask_worker_processes(aws, trained_versions):
    manifest = trained_versions.write()
    loaded = load_version(keys.DEFAULT_PROJECT, manifest.version)
    _, rows = _holdout(trained_versions, keys.DEFAULT_PROJECT, BREAST_CANCER)
    checked = validate_frame(loaded.schema, rows.head(20))
    for name, predictor in loaded.compiled.items():
        again = pickle.loads(pickle.dumps(predictor))
        assert (
            again.predict(checked).tolist()
            == predictor.predict(checked).tolist()
            == (loaded.pipelines[name].predict(checked).tolist())
        )


def test_compiled_model_takes_its_declared_columns_by_name(aws, trained_versions):
    manifest = trained_versions.write()
    loaded = load_version(keys.DEFAULT_PROJECT, manifest.version)
    _, rows = _holdout(trained_versions, keys.DEFAULT_PROJECT, BREAST_CANCER)
    checked = validate_frame(loaded.schema, rows.head(5))
    predictor = loaded.compiled["linear"]
    shuffled = checked[list(reversed(checked.columns))]
    assert predict_frame(predictor.model, shuffled, predictor.input_columns).tolist() == (
        loaded.pipelines["linear"].predict(checked).tolist()
    )
    with pytest.raises(KeyError, match="lacks the model's input column"):
        predict_frame(predictor.model, checked.drop(columns=[predictor.input_columns[0]]), predictor.input_columns)


def test_the_compiled_artifact_is_checksummed_like_the_pickles(aws, trained_versions):
    from support.versions import tamper_with_artifact

    from dropml.errors import ChecksumMismatch

    manifest = trained_versions.write()
    tamper_with_artifact(manifest, "linear.onnx")
    with pytest.raises(ChecksumMismatch):
        load_version(keys.DEFAULT_PROJECT, manifest.version)
    assert registry.live_version(keys.DEFAULT_PROJECT).version == manifest.version
