"""A champion's explanation, built from its fitted pipeline: per input column, adding up to the model's own output.

Every kind of model dropml trains (forests, histogram boosting, linear; regression, binary and multiclass) on a
frame with numbers, a boolean, categories, a first-word column and a date: base plus contributions equals what
scikit-learn itself gives (predict, predict_proba or decision_function) for every row, read as a frame and as
JSON records; each encoded feature counts for the input column it came from; a model without an exact
explanation is named; the file reads back the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from dropml.scoring.explain import Explainer, ExplainerError
from dropml.scoring.validate import rows_from_records, validate_frame
from dropml.training.bounded import BoundedRidgeCV
from dropml.training.compile import sklearn_matrix
from dropml.training.explainers import NotExplainable, build_explainer
from dropml.training.features import build_preprocess
from dropml.training.selection import TopKFeatures
from tests.unit.test_compile_features import KINDS, MIXED_SCHEMA, _json_records, _mixed_frame, _target

RNG = np.random.default_rng(28)


def _pipeline(model, task: str, target):
    frame = _mixed_frame(300)
    labels = target(frame)
    steps = build_preprocess(KINDS, max_categories=4, word_columns=["name"])
    pipeline = Pipeline([("preprocess", steps), ("select", TopKFeatures(task, 12)), ("model", model)])
    return pipeline.fit(frame, labels)


def _binary(frame):
    return np.where(_target(frame) > 0.5, "high", "low").astype(object)  # text labels as pandas holds them


def _three(frame):
    return np.digitize(_target(frame), [0.0, 1.0]).astype("int64") * 10


CASES = [
    ("forest-regressor", RandomForestRegressor(n_estimators=20, min_samples_leaf=2, random_state=0), "regression",
     _target, "value"),
    ("boosting-regressor", HistGradientBoostingRegressor(max_iter=30, random_state=0), "regression", _target, "value"),
    ("bounded-ridge", BoundedRidgeCV(), "regression", _target, "value"),
    ("forest-binary", RandomForestClassifier(n_estimators=15, random_state=0), "classification", _binary,
     "probability"),
    ("extra-trees-3", ExtraTreesClassifier(n_estimators=15, random_state=0), "classification", _three,
     "probability"),
    ("boosting-binary", HistGradientBoostingClassifier(max_iter=20, random_state=0), "classification", _binary,
     "log_odds"),
    ("boosting-3", HistGradientBoostingClassifier(max_iter=20, random_state=0), "classification", _three,
     "raw_score"),
    ("logistic-binary", LogisticRegression(max_iter=1000), "classification", _binary, "log_odds"),
    ("logistic-3", LogisticRegression(max_iter=1000), "classification", _three, "raw_score"),
]  # fmt: skip


def _own_output(pipeline, rows, scale: str, classes: list | None) -> np.ndarray:
    """scikit-learn's own number on the explained scale (a bounded ridge: its line before the clip)."""
    model = pipeline.steps[-1][1]
    matrix = sklearn_matrix(pipeline, rows)
    if scale == "value":
        return model._decision_function(matrix) if isinstance(model, BoundedRidgeCV) else model.predict(matrix)
    column = [list(model.classes_).index(c) for c in classes]
    if scale == "probability":
        return model.predict_proba(matrix)[np.arange(len(rows)), column]
    scores = model.decision_function(matrix)
    return scores if scores.ndim == 1 else scores[np.arange(len(rows)), column]


@pytest.mark.parametrize(("name", "model", "task", "target", "scale"), CASES, ids=[case[0] for case in CASES])
def test_contributions_per_input_column_add_up_to_the_models_own_output(name, model, task, target, scale):
    pipeline = _pipeline(model, task, target)
    holdout = validate_frame(MIXED_SCHEMA, _mixed_frame(80))
    built = build_explainer(pipeline, MIXED_SCHEMA, holdout, task)
    assert built.scale == scale
    assert set(built.importance) == set(KINDS)
    assert list(built.importance.values()) == sorted(built.importance.values(), reverse=True)
    explainer = Explainer.from_bytes(built.body)
    served = _mixed_frame(60)
    served.loc[0, "color"] = "ultraviolet"  # unseen
    checked = validate_frame(MIXED_SCHEMA, served)
    answers = pipeline.predict(checked)
    for rows in (checked, rows_from_records(MIXED_SCHEMA, _json_records(served))):
        explained = explainer.explain(rows, answers)
        assert explained.contributions.shape == (60, len(KINDS))
        own = _own_output(pipeline, checked, scale, explained.classes)
        assert np.abs(explained.outputs - own).max() <= 1e-9 * max(1.0, np.abs(own).max())
    if task == "classification":
        classes = pipeline.classes_
        expected = [classes[1]] * 60 if len(classes) == 2 else answers.tolist()
        assert explained.classes == expected
    first = explained.row(0, top=3)
    assert len(first["top"]) == 3
    total = first["base"] + sum(c["contribution"] for c in first["top"]) + first["others"]
    assert total == pytest.approx(first["value"], abs=1e-9)


def test_a_column_that_does_not_reach_the_model_contributes_nothing():
    # a target of x alone: a linear model's selected features from other columns still count for their columns,
    # and a column whose every encoded feature was left out by selection contributes exactly 0
    frame = _mixed_frame(300)
    steps = build_preprocess(KINDS, max_categories=4, word_columns=["name"])
    pipeline = Pipeline([("preprocess", steps), ("select", TopKFeatures("regression", 1)), ("model", BoundedRidgeCV())])
    pipeline.fit(frame, frame["x"].fillna(0).to_numpy() * 3)
    holdout = validate_frame(MIXED_SCHEMA, _mixed_frame(50))
    explainer = Explainer.from_bytes(build_explainer(pipeline, MIXED_SCHEMA, holdout, "regression").body)
    explained = explainer.explain(holdout)
    assert set(np.flatnonzero(np.abs(explained.contributions).sum(axis=0))) == {list(KINDS).index("x")}


def test_a_model_without_an_exact_explanation_is_named():
    pipeline = _pipeline(KNeighborsRegressor(), "regression", _target)
    holdout = validate_frame(MIXED_SCHEMA, _mixed_frame(40))
    with pytest.raises(NotExplainable, match="KNeighborsRegressor has no exact explanation"):
        build_explainer(pipeline, MIXED_SCHEMA, holdout, "regression")


def test_a_file_of_another_format_is_refused():
    with pytest.raises(ExplainerError):
        Explainer.from_bytes(b"not a zip file")
