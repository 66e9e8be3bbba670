"""Step 5: the select step caps at max_features, never fails with fewer, and names what it kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from dropml.config import FeatureSelectionSettings
from dropml.training.features import build_preprocess
from dropml.training.selection import TopKFeatures, build_selector, selected_features


def _data(rows: int = 120):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
    labels = 3 * frame["x2"] - 2 * frame["x4"] + rng.normal(scale=0.1, size=rows)
    return frame, labels.to_numpy()


def test_top_k_keeps_the_most_informative_features():
    frame, labels = _data()
    selector = TopKFeatures(task="regression", max_features=2).fit(frame.to_numpy(), labels)
    assert selector.get_support().tolist() == [False, False, True, False, True, False]


def test_top_k_keeps_everything_when_there_are_fewer_features_than_the_cap():
    frame, labels = _data()
    selector = TopKFeatures(task="regression", max_features=30).fit(frame.to_numpy()[:, :3], labels)
    assert selector.get_support().tolist() == [True, True, True]


def test_constant_features_do_not_break_selection():
    frame, labels = _data()
    values = np.column_stack([np.ones(len(labels)), frame.to_numpy()])
    selector = TopKFeatures(task="classification", max_features=2).fit(values, labels > 0)
    assert selector.get_support()[0] == np.False_


@pytest.mark.parametrize(("method", "cap", "expected"), [("k_best", 2, ["x2", "x4"]), ("none", 2, None)])
def test_selected_feature_names_come_from_the_fitted_pipeline(method, cap, expected):
    frame, labels = _data()
    kinds = dict.fromkeys(frame.columns, "numeric")
    selector = build_selector(FeatureSelectionSettings(method=method, max_features=cap), "regression", 0)
    pipeline = Pipeline([("preprocess", build_preprocess(kinds, 10)), ("select", selector), ("model", Ridge())])
    pipeline.fit(frame, labels)
    assert selected_features(pipeline) == (expected or list(frame.columns))


def test_model_based_selection_caps_and_survives_few_features():
    frame, labels = _data()
    conf = FeatureSelectionSettings(method="model", max_features=3)
    selector = build_selector(conf, "regression", 0)
    pipeline = Pipeline(
        [("preprocess", build_preprocess({"x2": "numeric", "x4": "numeric"}, 10)), ("select", selector), ("m", Ridge())]
    )
    pipeline.fit(frame, labels)
    assert selected_features(pipeline) == ["x2", "x4"]
    wide = Pipeline(
        [
            ("preprocess", build_preprocess(dict.fromkeys(frame.columns, "numeric"), 10)),
            ("select", build_selector(conf, "regression", 0)),
            ("model", Ridge()),
        ]
    ).fit(frame, labels)
    kept = selected_features(wide)
    assert len(kept) == 3
    assert {"x2", "x4"} <= set(kept)
