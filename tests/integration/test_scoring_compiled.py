"""The compiled predict path: ONNX made at publish time by the real training code, served only when it agrees.

Every served model's answers (through the API, as a user gets them) are compared with scikit-learn's
pipeline on the holdout rows the version was checked on: a classification set, a regression set with a
categorical column, and a set where tied neighbours keep k-nearest-neighbours from compiling (it is
named with its reason on the models page, and served by scikit-learn, unchanged).
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from support.versions import BREAST_CANCER, DIABETES
from support.zoo import ZOO

from dropml import registry
from dropml.config import load_settings
from dropml.scoring import load_version, validate_frame
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
    assert set(compiled) == set(manifest.model_names)
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


def test_numbers_and_a_category_compile_too(aws, trained_versions):
    manifest = trained_versions.write("diabetes", DIABETES)  # the categorical 'sex': one-hot in the feature program
    assert manifest.uncompiled == {}
    _, rows = _holdout(trained_versions, "diabetes", DIABETES)
    loaded = load_version("diabetes", manifest.version)
    checked = validate_frame(loaded.schema, rows)
    for name, values in _served("diabetes", rows).items():
        np.testing.assert_allclose(values, loaded.pipelines[name].predict(checked), rtol=1e-12, err_msg=name)


WITH_TIED_NEIGHBOURS = {
    "cv_folds": 2,
    "models": {
        "linear": {"estimator": "linear"},
        "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 10}},
        "knn": {"estimator": "knn"},
    },
    "target": "affairs",
}


def test_a_model_that_does_not_compile_is_named_with_its_reason_and_served_by_scikit_learn(
    aws, trained_versions, tmp_path
):
    # statsmodels' fair: survey answers on few levels, so many rows lie at the same distance: which of the tied
    # neighbours onnxruntime's TopK keeps is not scikit-learn's, and the neighbour average differs
    fair = tmp_path / "fair.csv"
    fair.write_bytes(next(case for case in ZOO if case.name == "sm-fair").load())
    manifest = trained_versions.write("fair", fair, overrides=WITH_TIED_NEIGHBOURS)
    assert list(manifest.uncompiled) == ["knn"]
    assert re.fullmatch(r"\d+ of \d+ holdout values differ from scikit-learn, by up to .*", manifest.uncompiled["knn"])
    assert "knn.onnx" not in manifest.artifacts
    _, rows = _holdout(trained_versions, "fair", fair, WITH_TIED_NEIGHBOURS)
    loaded = load_version("fair", manifest.version)
    assert set(loaded.compiled) == {"linear", "random_forest"}
    checked = validate_frame(loaded.schema, rows)
    assert _served("fair", rows)["knn"] == loaded.pipelines["knn"].predict(checked).tolist()
    app = create_app(load_settings())
    page = app.test_client().get("/p/fair/models").data.decode()
    assert "1 of 3 models have no compiled form" in page
    assert f"<strong>knn</strong>: {manifest.uncompiled['knn']}" in page


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
    assert predictor.input_columns == loaded.schema.names
    shuffled = checked[list(reversed(checked.columns))]
    assert predictor.predict(shuffled).tolist() == loaded.pipelines["linear"].predict(checked).tolist()
    with pytest.raises(KeyError, match=predictor.input_columns[0]):
        predictor.predict(checked.drop(columns=[predictor.input_columns[0]]))


def test_a_compiled_form_of_a_version_published_before_feature_programs_still_serves(aws, trained_versions):
    # such an ONNX file holds its scaling itself and takes the manifest's input_columns as one matrix
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dropml.scoring.load import compiled_predictor

    trained, rows = _holdout(trained_versions, keys.DEFAULT_PROJECT, BREAST_CANCER)
    columns = trained.schema.names
    features = trained.cleaned.features[columns].to_numpy()
    plain = make_pipeline(StandardScaler(), Ridge()).fit(features, np.arange(len(features)) % 7)
    legacy = to_onnx(plain, initial_types=[("input", DoubleTensorType([None, len(columns)]))])
    predictor = compiled_predictor(legacy.SerializeToString(), columns)
    assert predictor.program is None
    checked = validate_frame(trained.schema, rows)
    np.testing.assert_allclose(predictor.predict(checked), plain.predict(checked[columns].to_numpy()), rtol=1e-12)


def test_the_compiled_artifact_is_checksummed_like_the_pickles(aws, trained_versions):
    from support.versions import tamper_with_artifact

    from dropml.errors import ChecksumMismatch

    manifest = trained_versions.write()
    tamper_with_artifact(manifest, "linear.onnx")
    with pytest.raises(ChecksumMismatch):
        load_version(keys.DEFAULT_PROJECT, manifest.version)
    assert registry.live_version(keys.DEFAULT_PROJECT).version == manifest.version
