"""Reasons with each prediction, through the live app over HTTP, on vega cars (categories, a date, a car's name).

Versions trained by the real training code (a tree champion, a linear
champion, a k-NN champion), served over HTTP: ``?explain=true`` answers each
row's contributions per input column (not per encoded feature), which with
the base value add up to the champion's own output as scikit-learn computes
it in this process; the answers themselves do not change; a bad ``explain``
is a 400 naming it; a champion without an exact explanation says why in a
200; the form, the upload page, a CSV answer and file scoring carry the
reasons; the models page shows the version's holdout importance.
"""

from __future__ import annotations

import io
import json
import urllib.request

import numpy as np
import pandas as pd
import pytest
from support.live_server import multipart_csv, post, serving
from support.zoo import ZOO

from dropml import storage
from dropml.config import load_settings, reset_settings_cache
from dropml.scoring import load_version, validate_frame
from dropml.scoring.csv_input import read_scoring_csv
from dropml.training.compile import sklearn_matrix
from dropml.usecases.score_file import score_file

pytestmark = pytest.mark.slow

CARS = next(case for case in ZOO if case.name == "vega-cars")
ROWS = 8
TREE_TRAINING = {
    "cv_folds": 2,
    "models": {
        "baseline": {"estimator": "dummy"},
        "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 25, "min_samples_leaf": 2}},
        "gradient_boosting": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 20}},
        "extra_trees": {"estimator": "extra_trees", "params": {"n_estimators": 15}},
    },
}
# models made to lose: one split of one tree
STUMPS = {name: {"estimator": "extra_trees", "params": {"n_estimators": 1, "max_depth": 1}} for name in ("s1", "s2")}
LINEAR_TRAINING = {
    "cv_folds": 2,
    "models": {"baseline": {"estimator": "dummy"}, "linear": {"estimator": "linear"}, **STUMPS},
}
KNN_TRAINING = {"cv_folds": 2, "models": {"baseline": {"estimator": "dummy"}, "knn": {"estimator": "knn"}, **STUMPS}}


def _version(trained_versions, tmp_path, project: str, training: dict) -> tuple[object, pd.DataFrame]:
    csv = tmp_path / "cars.csv"
    csv.write_bytes(CARS.load())
    manifest = trained_versions.write(project, csv, overrides={**training, "target": CARS.target})
    raw = read_scoring_csv(csv.read_bytes(), manifest.input_schema, csv.name)
    rows = raw.sample(ROWS, random_state=28).reset_index(drop=True)
    rows.loc[0, "Horsepower"] = None  # a gap: imputed, and explained like any value
    return manifest, rows


def _records(rows: pd.DataFrame) -> bytes:
    return json.dumps(rows.astype(object).where(rows.notna(), None).to_dict(orient="records")).encode()


def _own_outputs(project: str, version: int, rows: pd.DataFrame, explained: list[dict]) -> np.ndarray:
    """The champion's own number on the explained scale, from its pickle in this process (scikit-learn)."""
    loaded = load_version(project, version)
    pipeline = loaded.pipelines[loaded.champion]
    checked = validate_frame(loaded.schema, rows)
    matrix = sklearn_matrix(pipeline, checked)
    model = pipeline.steps[-1][1]
    column = [list(model.classes_).index(row["class"]) for row in explained]
    at = np.arange(len(rows))
    scale = explained[0]["output"]
    if scale == "probability":
        return model.predict_proba(matrix)[at, column]
    scores = model.decision_function(matrix)
    return scores if scores.ndim == 1 else scores[at, column]


def _check_adds_up(answer: dict, schema_names: set[str]) -> None:
    for row in answer["explanations"]:
        assert {c["column"] for c in row["top"]} <= schema_names  # input columns, not encoded features
        total = row["base"] + sum(c["contribution"] for c in row["top"]) + row["others"]
        assert abs(total - row["value"]) <= 1e-6 * max(1.0, abs(row["value"]))


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("project", "training", "method", "scale"),
    [
        (
            "cars-trees",
            TREE_TRAINING,
            "tree_shap",
            {"random_forest": "probability", "extra_trees": "probability", "gradient_boosting": "raw_score"},
        ),
        ("cars-linear", LINEAR_TRAINING, "linear", {"linear": "raw_score"}),
    ],
    ids=["tree-champion", "linear-champion"],
)
def test_explanations_add_up_to_the_champions_own_output(aws, trained_versions, tmp_path, project, training, method,
                                                         scale):  # fmt: skip
    manifest, rows = _version(trained_versions, tmp_path, project, training)
    champion = manifest.model(manifest.champion)
    assert champion.name in scale, f"champion {champion.name}: the test expects one of {list(scale)}"
    assert champion.explainer is not None, champion.not_explained
    assert champion.explainer.method == method
    names = set(manifest.input_schema.names)
    assert set(champion.explainer.importance) == names
    conf = load_settings()
    conf = conf.model_copy(update={"serving": conf.serving.model_copy(update={"explain_top": 3})})
    with serving(conf) as url:
        base = f"{url}/api/v1/predict?project={project}"
        status, _, plain = post(base, _records(rows), "application/json")
        assert status == 200
        status, _, body = post(f"{base}&explain=true", _records(rows), "application/json")
        assert status == 200, body[:500]
        answer = json.loads(body)
        plain_answer = json.loads(plain)
        assert "explanations" not in plain_answer
        assert answer["predictions"] == plain_answer["predictions"]  # explaining changes no answer
        assert answer["explained_model"] == champion.name
        explained = answer["explanations"]
        assert len(explained) == ROWS
        assert {row["output"] for row in explained} == {scale[champion.name]}
        assert all(len(row["top"]) == 3 for row in explained)
        _check_adds_up(answer, names)
        own = _own_outputs(project, manifest.version, rows, explained)
        values = np.array([row["value"] for row in explained])
        assert np.abs(values - own).max() <= 1e-6 * max(1.0, np.abs(own).max())
        if scale[champion.name] != "log_odds":  # multiclass: each row explained for the class it answered
            assert [row["class"] for row in explained] == answer["predictions"]

        # a CSV answer: the same reasons as columns
        status, _, body = post(f"{base}&explain=1", rows.to_csv(index=False).encode(), "text/csv", accept="text/csv")
        assert status == 200
        table = pd.read_csv(io.BytesIO(body))
        assert np.allclose(table["explanation_value"], values, rtol=0, atol=1e-9)
        assert table["explanation"].str.contains("others").all()

        # the form (one record) and the upload page, each with its checkbox
        form = {"col:" + name: ("" if pd.isna(value) else str(value)) for name, value in rows.iloc[1].items()}
        page = _post_form(f"{url}/p/{project}/", {**form, "explain": "on"})
        assert 'id="reasons-table"' in page
        assert f"Why {champion.name} answered this" in page
        assert 'id="reasons-table"' not in _post_form(f"{url}/p/{project}/", form)
        upload, content_type = multipart_csv("cars.csv", rows.to_csv(index=False).encode())
        status, _, page = post(f"{url}/p/{project}/upload", _with_field(upload, content_type), content_type)
        assert status == 200
        assert b"explanation_value" in page

        # the models page: the version's holdout importance
        with urllib.request.urlopen(f"{url}/p/{project}/models", timeout=30) as response:
            models_page = response.read().decode()
        assert 'id="importance-table"' in models_page
        assert next(iter(champion.explainer.importance)) in models_page


def _post_form(url: str, fields: dict[str, str]) -> str:
    body = "&".join(f"{urllib.request.quote(k)}={urllib.request.quote(v)}" for k, v in fields.items()).encode()
    status, _, page = post(url, body, "application/x-www-form-urlencoded")
    assert status == 200, page[:500]
    return page.decode()


def _with_field(body: bytes, content_type: str) -> bytes:
    """``body`` (one file field) with an ``explain=on`` field before the closing boundary."""
    boundary = content_type.split("boundary=")[1]
    field = f'--{boundary}\r\nContent-Disposition: form-data; name="explain"\r\n\r\non\r\n'.encode()
    closing = f"--{boundary}--\r\n".encode()
    return body[: -len(closing)] + field + closing


@pytest.mark.timeout(600)
def test_a_bad_explain_value_is_a_400_naming_it_and_knn_says_why_it_is_not_explained(aws, trained_versions, tmp_path):
    manifest, rows = _version(trained_versions, tmp_path, "cars-knn", KNN_TRAINING)
    champion = manifest.model(manifest.champion)
    assert champion.name == "knn", f"champion {champion.name}: the test expects knn"
    assert champion.explainer is None
    assert "KNeighborsClassifier" in (champion.not_explained or "")
    with serving() as url:
        base = f"{url}/api/v1/predict?project=cars-knn"
        for bad in ("maybe", "2", "TRUEISH"):
            status, _, body = post(f"{base}&explain={bad}", _records(rows), "application/json")
            assert status == 400, body[:300]
            problem = json.loads(body)
            assert "explain" in json.dumps(problem)
            assert bad in json.dumps(problem)
        status, _, body = post(f"{base}&explain=false", _records(rows), "application/json")
        assert status == 200
        assert "explanations" not in json.loads(body)
        status, _, body = post(f"{base}&explain=true", _records(rows), "application/json")
        assert status == 200, body[:300]
        answer = json.loads(body)
        assert answer["explanations"] is None
        assert "KNeighborsClassifier has no exact explanation" in answer["not_explained"]
        assert len(answer["predictions"]) == ROWS


@pytest.mark.timeout(600)
def test_file_scoring_adds_the_reasons_when_the_setting_is_on(aws, trained_versions, tmp_path, monkeypatch):
    _, rows = _version(trained_versions, tmp_path, "cars-files", TREE_TRAINING)
    storage.put_bytes("test/cars-files/rows.csv", rows.to_csv(index=False).encode(), "text/csv")
    plain = pd.read_csv(io.BytesIO(storage.get_bytes(score_file("test/cars-files/rows.csv")).body))
    assert "explanation" not in plain.columns
    monkeypatch.setenv("DROPML__SERVING__EXPLAIN_FILES", "true")
    reset_settings_cache()
    storage.put_bytes("test/cars-files/again.csv", rows.to_csv(index=False).encode(), "text/csv")
    explained = pd.read_csv(io.BytesIO(storage.get_bytes(score_file("test/cars-files/again.csv")).body))
    assert len(explained) == ROWS
    assert explained["prediction"].tolist() == plain["prediction"].tolist()
    assert explained["explained_output"].str.startswith(("probability of", "raw_score of")).all()
    for line, value in zip(explained["explanation"], explained["explanation_value"], strict=True):
        parts = dict(part.rsplit(" ", 1) for part in line.split("; "))
        base = explained.loc[explained["explanation"] == line, "explanation_base"].iloc[0]
        assert abs(base + sum(float(v) for v in parts.values()) - value) < 1e-5  # the text keeps 6 digits
