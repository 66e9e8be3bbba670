"""Tree ensembles compiled to double-precision ONNX answer exactly as scikit-learn does, where float32 trees do not."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from dropml.scoring.onnx_runtime import load_session, run
from dropml.training.compile_features import NotCompilable
from dropml.training.compile_trees import tree_model_onnx
from dropml.training.models import EARLY_STOPPING_ROWS, boosting_rounds

RNG = np.random.default_rng(7)


def _data(rows: int = 400, width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    features = RNG.normal(size=(rows, width)).round(3)  # repeated values: many rows sit on a split
    signal = features[:, 0] + 0.5 * features[:, 1] ** 2 - features[:, 2] * features[:, 3]
    return features, signal + RNG.normal(scale=0.3, size=rows)


def _near_splits(model, width: int) -> np.ndarray:
    """Rows whose values are a split's threshold and one float32 step either side of it: where precision decides."""
    thresholds = []
    for tree in getattr(model, "estimators_", [model]):
        inner = tree.tree_.children_left != -1
        thresholds += list(zip(tree.tree_.feature[inner], tree.tree_.threshold[inner], strict=True))
    rows = np.tile(RNG.normal(size=(1, width)), (3 * len(thresholds), 1))
    for i, (feature, threshold) in enumerate(thresholds):
        value = np.float32(threshold)
        for j, near in enumerate(
            (value, np.nextafter(value, np.float32(-np.inf)), np.nextafter(value, np.float32(np.inf)))
        ):
            rows[3 * i + j, feature] = float(near)
    return rows


def _compiled(model, width: int) -> object:
    return load_session(tree_model_onnx(model, width))


def _predicted(model, width: int, rows: np.ndarray) -> np.ndarray:
    raw = run(_compiled(model, width), rows)
    classes = getattr(model, "classes_", None)
    return classes[raw] if classes is not None else raw


REGRESSORS = [
    DecisionTreeRegressor(random_state=0),
    RandomForestRegressor(n_estimators=30, min_samples_leaf=2, random_state=0),
    ExtraTreesRegressor(n_estimators=30, random_state=0),
    HistGradientBoostingRegressor(max_iter=15, min_samples_leaf=5, random_state=0),
]


@pytest.mark.parametrize("model", REGRESSORS, ids=lambda m: type(m).__name__)
def test_tree_regressors_give_scikit_learns_values_to_the_last_bit(model):
    features, target = _data()
    model.fit(features, target)
    rows = np.vstack([RNG.normal(size=(500, 6)), features])
    if hasattr(model, "tree_") or hasattr(model, "estimators_"):
        rows = np.vstack([rows, _near_splits(model, 6)])
    assert np.array_equal(_predicted(model, 6, rows), model.predict(rows))


CLASSIFIERS = [
    DecisionTreeClassifier(random_state=0),
    RandomForestClassifier(n_estimators=30, min_samples_leaf=2, random_state=0),
    ExtraTreesClassifier(n_estimators=30, random_state=0),
    HistGradientBoostingClassifier(max_iter=10, random_state=0),
]


@pytest.mark.parametrize("labels", [np.array(["no", "yes"], dtype=object), np.array([3, 5, 7, 9])], ids=["binary", "4"])
@pytest.mark.parametrize("model", CLASSIFIERS, ids=lambda m: type(m).__name__)
def test_tree_classifiers_give_scikit_learns_classes_ties_included(model, labels):
    features, target = _data()
    codes = np.digitize(target, np.quantile(target, np.linspace(0, 1, len(labels) + 1)[1:-1]))
    model.fit(features, labels[codes])
    rows = np.vstack([RNG.normal(size=(1000, 6)), features])
    if not isinstance(model, HistGradientBoostingClassifier):
        rows = np.vstack([rows, _near_splits(model, 6)])
    assert _predicted(model, 6, rows).tolist() == model.predict(rows).tolist()


def test_boosting_sends_missing_values_where_scikit_learn_learnt_to():
    features, target = _data()
    features[RNG.random(features.shape) < 0.2] = np.nan
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(features, target)
    rows = RNG.normal(size=(300, 6))
    rows[RNG.random(rows.shape) < 0.3] = np.nan
    assert np.array_equal(_predicted(model, 6, rows), model.predict(rows))


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_boosting_that_stopped_early_compiles_its_rounds_only(task):
    # training's boosting_rounds: above EARLY_STOPPING_ROWS rows, max_iter is raised and early stopping is on
    rows = EARLY_STOPPING_ROWS + 2000
    features, target = _data(rows)
    rounds = boosting_rounds(rows, 300)
    assert rounds == 300
    model = (HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier)(
        max_iter=rounds, early_stopping=True, n_iter_no_change=3, random_state=0
    )
    model.fit(features, target if task == "regression" else np.where(target > 0, "up", "down"))
    assert model.n_iter_ < rounds  # it stopped by itself
    probe = np.vstack([RNG.normal(size=(1000, 6)), features[:2000]])
    assert _predicted(model, 6, probe).tolist() == model.predict(probe).tolist()


def test_the_forest_that_float32_thresholds_got_wrong_on_statsmodels_fair():
    # the case of issue 26: skl2onnx's float32 trees differ from scikit-learn on most rows of fair
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data
    features, target = frame.drop(columns=["affairs"]).to_numpy(dtype=float), frame["affairs"].to_numpy()
    forest = RandomForestRegressor(n_estimators=20, min_samples_leaf=2, random_state=0).fit(
        features[:4000], target[:4000]
    )
    rows = features[4000:]
    expected = forest.predict(rows)
    float32_trees = to_onnx(forest, initial_types=[("input", FloatTensorType([None, rows.shape[1]]))])
    single = run(load_session(float32_trees.SerializeToString()), rows.astype(np.float32)).reshape(-1)
    assert np.abs(single - expected).max() > 1e-9 * np.abs(expected).max()  # float32 sums: not scikit-learn's
    assert np.array_equal(_predicted(forest, rows.shape[1], rows), expected)


def test_what_has_no_exact_tree_form_is_refused_by_name():
    features, target = _data()
    two_outputs = RandomForestRegressor(n_estimators=3, random_state=0).fit(features, np.c_[target, target])
    with pytest.raises(NotCompilable, match="several outputs"):
        tree_model_onnx(two_outputs, 6)
    poisson = HistGradientBoostingRegressor(loss="poisson", max_iter=5).fit(features, np.abs(target))
    with pytest.raises(NotCompilable, match="poisson"):
        tree_model_onnx(poisson, 6)
    categories = np.c_[RNG.integers(0, 4, 400), features[:, 1:]]
    native = HistGradientBoostingRegressor(max_iter=5, categorical_features=[0]).fit(categories, target)
    with pytest.raises(NotCompilable, match="categorical splits"):
        tree_model_onnx(native, 6)
