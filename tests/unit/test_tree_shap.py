"""Path-dependent TreeSHAP in numpy against two references that share no code with it.

1. Brute force: the Shapley values of the game TreeSHAP explains, by the definition (every subset of features,
   each weighted), with ``E[f(x) | x_S]`` computed by walking the tree (a feature in S follows the row; any
   other averages both children by their training rows).
2. LightGBM's own ``pred_contrib`` (its C++ TreeSHAP), on a booster whose trees are read into the same arrays.
"""

from __future__ import annotations

import itertools
import math

import lightgbm
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.tree import DecisionTreeRegressor

from dropml.scoring.tree_shap import TreeArrays, TreeShap
from dropml.training.compile_trees import fitted_trees
from dropml.training.explainers import _concatenated

RNG = np.random.default_rng(11)


def _data(rows: int, width: int, gaps: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    features = RNG.normal(size=(rows, width)).round(2)
    target = features[:, 0] * features[:, 1] + features[:, 2] ** 2 - features[:, 3] + 0.1 * RNG.normal(size=rows)
    features[RNG.random(features.shape) < gaps] = np.nan
    return features, target


def _arrays(model, outputs: int) -> TreeArrays:
    return _concatenated(list(fitted_trees(model)), outputs)


def _expectation(tree, x: np.ndarray, known: set[int], node: int, output: int) -> float:
    """E[tree(x) | x_known]: the path-dependent conditional expectation, by recursion."""
    if tree.left[node] == -1:
        return float(tree.values[node, output])
    left, right = tree.left[node], tree.right[node]
    feature = tree.feature[node]
    if feature in known:
        value = x[feature]
        goes_left = tree.missing_left[node] if np.isnan(value) else value <= tree.threshold[node]
        return _expectation(tree, x, known, left if goes_left else right, output)
    cover = tree.cover
    return (
        cover[left] * _expectation(tree, x, known, left, output)
        + cover[right] * _expectation(tree, x, known, right, output)
    ) / cover[node]


def _brute_force(tree, x: np.ndarray, output: int) -> np.ndarray:
    width = len(x)
    phi = np.zeros(width)
    for i in range(width):
        others = [j for j in range(width) if j != i]
        for size in range(width):
            weight = math.factorial(size) * math.factorial(width - size - 1) / math.factorial(width)
            for subset in itertools.combinations(others, size):
                known = set(subset)
                phi[i] += weight * (
                    _expectation(tree, x, known | {i}, 0, output) - _expectation(tree, x, known, 0, output)
                )
    return phi


def test_one_tree_with_gaps_matches_brute_force_shapley_values():
    features, target = _data(400, 5, gaps=0.1)
    model = DecisionTreeRegressor(max_depth=6, min_samples_leaf=3, random_state=0).fit(features, target)
    rows = np.vstack([features[:15], RNG.normal(size=(5, 5))])
    rows[15:, 2] = np.nan
    rows = rows.astype("float32").astype("float64")  # the tree reads float32: the brute force walks those values
    shap = TreeShap(_arrays(model, 1))
    phi, sums = shap.contributions(rows, np.zeros(len(rows), dtype="int64"))
    (tree,) = (fitted.nodes for fitted in fitted_trees(model))
    expected = np.array([_brute_force(tree, x, 0) for x in rows])
    assert np.abs(phi - expected).max() < 1e-12
    assert np.allclose(sums, model.predict(rows), rtol=0, atol=1e-12)
    assert np.allclose(shap.expected[0] + phi.sum(axis=1), model.predict(rows), rtol=0, atol=1e-12)


def test_boosting_trees_each_match_brute_force_and_sum_to_the_raw_prediction():
    features, target = _data(300, 4, gaps=0.05)
    model = HistGradientBoostingRegressor(max_iter=5, max_leaf_nodes=8, random_state=0).fit(features, target)
    rows = features[:10]
    trees = list(fitted_trees(model))
    total = np.zeros((len(rows), 4))
    for tree in trees:
        total += np.array([_brute_force(tree.nodes, x, 0) for x in rows])
    shap = TreeShap(_arrays(model, 1))
    phi, _ = shap.contributions(rows, np.zeros(len(rows), dtype="int64"))
    assert np.abs(phi - total).max() < 1e-12
    baseline = float(np.ravel(model._baseline_prediction)[0])
    assert np.allclose(baseline + shap.expected[0] + phi.sum(axis=1), model.predict(rows), rtol=0, atol=1e-12)


def test_a_forest_classifiers_class_probabilities_each_add_up():
    features, target = _data(500, 6)
    labels = np.digitize(target, [-0.5, 0.8])
    model = RandomForestClassifier(n_estimators=25, min_samples_leaf=2, random_state=0).fit(features, labels)
    rows = RNG.normal(size=(40, 6))
    shap = TreeShap(_arrays(model, 3))
    probabilities = model.predict_proba(rows)
    for output in range(3):
        phi, _ = shap.contributions(rows, np.full(len(rows), output))
        explained = (shap.expected[output] + phi.sum(axis=1)) / 25
        assert np.abs(explained - probabilities[:, output]).max() < 1e-12


def _lightgbm_arrays(booster: lightgbm.Booster) -> TreeArrays:
    """A LightGBM booster's trees (numerical ``<=`` splits) as node arrays."""
    parts: dict[str, list] = {k: [] for k in ("left", "right", "feature", "threshold", "missing", "cover", "value")}
    starts = []
    for info in booster.dump_model()["tree_info"]:
        starts.append(len(parts["left"]))
        base = len(parts["left"])

        def add(node: dict, base: int = base) -> int:
            at = len(parts["left"])
            for values in parts.values():
                values.append(None)
            if "leaf_value" in node:
                parts["left"][at] = parts["right"][at] = -1
                parts["feature"][at], parts["threshold"][at], parts["missing"][at] = 0, 0.0, False
                parts["cover"][at], parts["value"][at] = node["leaf_count"], node["leaf_value"]
                return at - base
            assert node["decision_type"] == "<="
            parts["feature"][at], parts["threshold"][at] = node["split_feature"], node["threshold"]
            parts["missing"][at], parts["cover"][at], parts["value"][at] = (
                node["default_left"],
                node["internal_count"],
                0.0,
            )
            parts["left"][at] = add(node["left_child"])
            parts["right"][at] = add(node["right_child"])
            return at - base

        add(info["tree_structure"])
    return TreeArrays(
        starts=np.array(starts),
        left=np.array(parts["left"]),
        right=np.array(parts["right"]),
        feature=np.array(parts["feature"]),
        threshold=np.array(parts["threshold"], dtype="float64"),
        missing_left=np.array(parts["missing"], dtype=bool),
        cover=np.array(parts["cover"], dtype="float64"),
        values=np.array(parts["value"], dtype="float64")[:, None],
    )


@pytest.mark.parametrize("depth", [3, 8, -1], ids=["shallow", "deep", "unbounded"])
def test_lightgbms_own_pred_contrib_on_its_trees(depth):
    features, target = _data(2000, 8)
    booster = lightgbm.train(
        {"objective": "regression", "num_leaves": 48, "max_depth": depth, "min_data_in_leaf": 5, "verbose": -1,
         "num_threads": 1, "seed": 0},
        lightgbm.Dataset(features, target),
        num_boost_round=40,
    )  # fmt: skip
    rows = RNG.normal(size=(200, 8)) * 1.5
    reference = booster.predict(rows, pred_contrib=True)  # [rows, features + 1]: the last column is the base
    shap = TreeShap(_lightgbm_arrays(booster))
    phi, sums = shap.contributions(rows, np.zeros(len(rows), dtype="int64"))
    assert np.abs(phi - reference[:, :-1]).max() < 1e-9
    assert np.abs(shap.expected[0] - reference[:, -1]).max() < 1e-9
    assert np.abs(sums - booster.predict(rows)).max() < 1e-9
