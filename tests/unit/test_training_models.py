"""Step 6: the estimator registry, params from config, and the time-boxed random search."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dropml.config import ModelSpec
from dropml.errors import ConfigError
from dropml.training import models
from dropml.training.models import applicable_space, build_estimator, search_candidates
from dropml.training.search import random_search


def test_registry_builds_per_task_estimators_with_params_and_random_state():
    forest = build_estimator("rf", ModelSpec(estimator="random_forest", params={"n_estimators": 7}), "regression", 5)
    assert type(forest).__name__ == "RandomForestRegressor"
    assert (forest.n_estimators, forest.random_state) == (7, 5)
    linear = build_estimator("lin", ModelSpec(estimator="linear"), "classification", 5)
    assert (type(linear).__name__, linear.max_iter) == ("LogisticRegression", 1000)
    assert type(build_estimator("b", ModelSpec(estimator="dummy"), "regression", 5)).__name__ == "DummyRegressor"


def test_search_params_apply_only_where_the_estimator_has_them():
    spec = ModelSpec(estimator="linear", search_space={"C": [0.1, 1.0], "alphas": [[0.1], [10.0]]})
    assert applicable_space(spec, "classification") == {"C": [0.1, 1.0]}
    assert applicable_space(spec, "regression") == {"alphas": [[0.1], [10.0]]}
    ridge = build_estimator("lin", spec, "regression", 0, extra={"C": 3.0, "alphas": [10.0]})
    assert ridge.alphas == [10.0]


def test_the_regression_linear_model_chooses_its_penalty_from_the_data():
    # crypto-ohlcv's collinear lags: a fixed alpha=1 left RMSE 37.5 where plain least squares gets 8.9
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1))
    X = np.hstack([x, x + rng.normal(scale=1e-3, size=(200, 1))])  # noqa: N806 - two near-copies of one signal
    y = 5 * x[:, 0] + rng.normal(scale=0.1, size=200)
    ridge = build_estimator("lin", ModelSpec(estimator="linear"), "regression", 0).fit(X, y)
    assert ridge.alpha_ < 1.0
    assert ridge.alpha_ in models.RIDGE_ALPHAS


def test_unknown_estimator_and_param_are_config_errors_naming_them():
    with pytest.raises(ConfigError) as caught:
        build_estimator("fancy", ModelSpec(estimator="xgboost"), "regression", 0)
    assert str(caught.value).startswith(
        "models.fancy.estimator: unknown estimator 'xgboost'; known: dummy, extra_trees"
    )
    with pytest.raises(ConfigError) as caught:
        build_estimator("rf", ModelSpec(estimator="random_forest", params={"n_trees": 5}), "regression", 0)
    assert str(caught.value).startswith(
        "models.rf.params: RandomForestRegressor has no parameter(s) n_trees (got {'n_trees': 5}); valid: "
    )


def test_search_candidates_are_distinct_reproducible_and_exhaust_small_spaces():
    space = {"a": [1, 2], "b": ["x", "y", "z"]}
    first = list(search_candidates(space, seed=1))
    assert len(first) == 6
    assert len({tuple(sorted(c.items())) for c in first}) == 6
    assert first == list(search_candidates(space, seed=1))


def test_search_with_no_budget_keeps_the_defaults_without_evaluating():
    calls = []
    outcome = random_search(lambda p: calls.append(p) or {}, {"a": [1, 2]}, {"rmse": 3.0}, "rmse", 0, seed=0)
    assert (outcome.params, outcome.metrics, outcome.tried, calls) == ({}, {"rmse": 3.0}, 1, [])


def test_search_keeps_the_best_candidate_direction_aware_and_stops_at_the_budget():
    def evaluate(params):
        time.sleep(0.02)
        return {"rmse": float(params["depth"])}

    outcome = random_search(evaluate, {"depth": [5, 1, 9, 4]}, {"rmse": 3.0}, "rmse", 10.0, seed=0)
    assert (outcome.params, outcome.metrics, outcome.tried) == ({"depth": 1}, {"rmse": 1.0}, 5)
    slow = random_search(evaluate, {"depth": list(range(100))}, {"rmse": 3.0}, "rmse", 0.1, seed=0)
    assert 2 <= slow.tried <= 6
    assert slow.seconds < 0.2


def test_fit_models_searches_within_the_budget_and_publishes_the_best_params():
    import pandas as pd

    from dropml.config import TrainingSettings
    from dropml.training.clean import clean_frame
    from dropml.training.evaluation import random_split
    from dropml.training.steps import fit_models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=150) for i in range(4)})
    frame["target"] = frame["x0"] * 3 + rng.normal(scale=0.5, size=150)
    conf = TrainingSettings(
        cv_folds=3,
        search_time_budget_seconds=3.0,
        models={
            "baseline": {"estimator": "dummy"},
            "ridge": {"estimator": "linear", "params": {"alphas": [1000.0]}, "search_space": {"alphas": [[0.01]]}},
            "forest": {"estimator": "random_forest", "params": {"n_estimators": 5}},
            "knn": {"estimator": "knn", "search_space": {"n_neighbors": [3, 15], "C": [1.0]}},
        },
    )
    cleaned = clean_frame(frame, conf)
    split = random_split(cleaned.labels, "regression", 3, 0.2, 0)
    started = time.perf_counter()
    results = {r.name: r for r in fit_models(cleaned, conf, split, "rmse")}
    assert time.perf_counter() - started < 10
    assert results["ridge"].search == {
        "tried": 2,
        "seconds": results["ridge"].search["seconds"],
        "best": {"alphas": [0.01]},
    }
    assert results["ridge"].params["alphas"] == "[0.01]"
    assert results["knn"].search["tried"] == 3
    assert results["forest"].search == {"tried": 1, "seconds": 0.0, "best": {}}
    assert results["baseline"].baseline
    assert results["ridge"].selected_features == ["x0", "x1", "x2", "x3"]
    assert {"rmse", "holdout_rmse", "fit_seconds", "predict_seconds"} <= set(results["ridge"].metrics)


def test_the_persistence_baseline_forecasts_each_rows_last_known_value():
    import pandas as pd

    from dropml.config import TrainingSettings
    from dropml.training.persistence import LastValueRegressor, persistence_spec

    model = LastValueRegressor(column="open").fit(pd.DataFrame({"open": [1.0, 2.0]}), [2.0, 4.0])
    rows = pd.DataFrame({"open": [10.0, np.nan, "12.5"], "other": [0, 0, 0]})
    assert model.predict(rows).tolist() == [10.0, 3.0, 12.5]  # a missing value gets the mean training label
    with pytest.raises(ConfigError) as caught:
        model.predict(pd.DataFrame({"close": [1.0]}))
    assert str(caught.value) == "the persistence baseline needs column 'open' in its input"

    timed = TrainingSettings(target="open", time_column="date")
    assert persistence_spec(timed, "regression") == ModelSpec(estimator="last_value", params={"column": "open"})
    assert persistence_spec(timed, "classification") is None
    assert persistence_spec(TrainingSettings(), "regression") is None  # not time-ordered


def test_a_model_named_persistence_is_refused_in_a_time_ordered_project():
    from dropml.config import TrainingSettings
    from dropml.training.steps import check_model_names

    models = {"persistence": {"estimator": "linear"}, "a": {"estimator": "knn"}, "b": {"estimator": "extra_trees"}}
    check_model_names(TrainingSettings(models=models))  # a plain project may use the name
    with pytest.raises(ConfigError) as caught:
        check_model_names(TrainingSettings(models=models, time_column="date"))
    assert str(caught.value) == (
        "models.persistence: the name is taken by the persistence baseline of time-ordered projects; rename it"
    )


def test_the_default_search_can_weight_classes_for_macro_f1_where_the_estimator_can():
    from dropml.config import load_settings

    models = load_settings(environ={}).training.models  # config.json as shipped
    for name in ("linear", "random_forest", "gradient_boosting"):
        assert applicable_space(models[name], "classification")["class_weight"] == [None, "balanced"], name
        assert "class_weight" not in applicable_space(models[name], "regression"), name


def _pipeline_model(task: str, rows: int = 60, **settings):
    from dropml.config import TrainingSettings
    from dropml.training.clean import clean_frame
    from dropml.training.steps import build_model_pipeline

    rng = np.random.default_rng(0)
    minority = rows // 6
    frame = pd.DataFrame({"x": rng.normal(size=rows), "target": ["a"] * (rows - minority) + ["b"] * minority})
    if task == "regression":
        frame["target"] = rng.normal(size=rows)
    conf = TrainingSettings(**settings)
    cleaned = clean_frame(frame, conf)
    return {
        name: build_model_pipeline(name, spec, cleaned, conf).named_steps["model"] for name, spec in conf.models.items()
    }


def test_classifiers_weigh_classes_evenly_when_the_rank_metric_averages_over_classes():
    # modechoice's 25 % minority: macro F1 counts it as much as the majority, so the fit should too
    by_default = _pipeline_model("classification")
    assert {name: getattr(m, "class_weight", "n/a") for name, m in by_default.items()} == {
        "baseline": "n/a",  # DummyClassifier has no class weights
        "linear": "balanced",
        "random_forest": "balanced",
        "gradient_boosting": "balanced",
        "extra_trees": "balanced",
    }
    by_accuracy = _pipeline_model("classification", rank_metric="accuracy")
    assert by_accuracy["random_forest"].class_weight is None
    assert _pipeline_model("classification", class_weight="none")["linear"].class_weight is None
    assert _pipeline_model("classification", rank_metric="accuracy", class_weight="balanced")[
        "linear"
    ].class_weight == ("balanced")
    assert getattr(_pipeline_model("regression")["random_forest"], "class_weight", None) is None


def test_a_models_own_class_weight_wins_over_the_setting():
    models_conf = {
        "baseline": {"estimator": "dummy"},
        "a": {"estimator": "linear", "params": {"class_weight": None}},
        "b": {"estimator": "random_forest"},
        "c": {"estimator": "extra_trees"},
    }
    built = _pipeline_model("classification", models=models_conf)
    assert (built["a"].class_weight, built["b"].class_weight) == (None, "balanced")


def test_a_model_with_max_rows_trains_only_on_data_that_small():
    from dropml.config import TrainingSettings, load_settings
    from dropml.training.steps import model_specs

    shipped = load_settings(environ={}).training.models  # config.json as shipped
    assert shipped["extra_trees"].max_rows == 5000
    conf = TrainingSettings(models=shipped)
    assert "extra_trees" in model_specs(conf, "regression", 5000)
    assert "extra_trees" not in model_specs(conf, "regression", 5001)
    assert set(model_specs(conf, "regression", 100_000)) == {"baseline", "linear", "random_forest", "gradient_boosting"}
    with pytest.raises(ValueError, match="at least 3 non-baseline models without max_rows"):
        TrainingSettings(models={**{k: v for k, v in shipped.items() if k != "linear"}})


def test_a_bootstrap_forest_on_more_rows_than_rows_per_tree_draws_a_share_of_them_per_tree():
    from sklearn.datasets import make_classification

    from dropml.training.models import tree_rows_share

    rows, labels = make_classification(n_samples=8000, n_features=8, flip_y=0.05, random_state=0)
    assert tree_rows_share(8000, 100_000) is None  # small data: every tree draws from every row
    share = tree_rows_share(8000, 1000)
    assert share == 0.125
    spec = ModelSpec(estimator="random_forest", params={"n_estimators": 5})
    whole = build_estimator("rf", spec, "classification", 0).fit(rows, labels)
    sampled = build_estimator("rf", spec, "classification", 0, tree_rows=share).fit(rows, labels)
    assert sampled.max_samples == 0.125
    nodes = [sum(tree.tree_.node_count for tree in forest.estimators_) for forest in (whole, sampled)]
    assert nodes[1] < nodes[0] / 3  # the point: trees of 1,000 rows, not 8,000
    mine = ModelSpec(estimator="random_forest", params={"max_samples": 0.5})
    assert build_estimator("rf", mine, "classification", 0, tree_rows=share).max_samples == 0.5  # the spec wins
    no_bootstrap = build_estimator("et", ModelSpec(estimator="extra_trees"), "classification", 0, tree_rows=share)
    assert no_bootstrap.max_samples is None  # sklearn ignores it without bootstrap: not set


def test_the_jobs_pipelines_give_the_forest_its_rows_per_tree_and_leave_the_other_models_alone():
    small = _pipeline_model("regression", rows=2000)
    assert small["random_forest"].max_samples is None  # 2,000 rows: under the default 30,000
    big = _pipeline_model("regression", rows=4000, rows_per_tree=1000)
    assert big["random_forest"].max_samples == 0.25
    assert not hasattr(big["gradient_boosting"], "max_samples")
    assert big["extra_trees"].max_samples is None  # no bootstrap: every tree sees every row, as sklearn does


def test_boosting_on_big_data_stops_by_itself_after_at_most_boosting_rounds():
    small = _pipeline_model("classification", rows=10_000)["gradient_boosting"]
    assert (small.max_iter, small.early_stopping) == (100, "auto")  # scikit-learn's own: no early stopping here
    big = _pipeline_model("classification", rows=10_001, boosting_rounds=250)["gradient_boosting"]
    assert (big.max_iter, big.early_stopping) == (250, True)
    assert _pipeline_model("classification", rows=10_001)["gradient_boosting"].max_iter == 300
    assert _pipeline_model("classification", rows=10_001)["linear"].max_iter == 1000  # not a boosting model
    mine = ModelSpec(estimator="hist_gradient_boosting", params={"max_iter": 50})
    assert build_estimator("gb", mine, "classification", 0, boosting_rounds=300).max_iter == 50  # the spec wins


def test_the_regression_linear_model_answers_within_its_training_targets_and_like_ridge_inside():
    from sklearn.linear_model import RidgeCV

    rng = np.random.default_rng(1)
    X = rng.uniform(0, 10, size=(300, 2))  # noqa: N806
    y = 3 * X[:, 0] - X[:, 1] + rng.normal(size=300)
    bounded = build_estimator("lin", ModelSpec(estimator="linear"), "regression", 0).fit(X, y)
    ridge = RidgeCV(alphas=models.RIDGE_ALPHAS).fit(X, y)
    inside = X[:50]
    assert np.allclose(bounded.predict(inside), np.clip(ridge.predict(inside), y.min(), y.max()))
    far = np.array([[100.0, 0.0], [-100.0, 0.0]])  # ridge says about +300 and -300
    assert bounded.predict(far).tolist() == [y.max(), y.min()]
    unbounded = ModelSpec(estimator="linear", params={"bounded": False})  # a project can ask for the straight line
    assert np.allclose(build_estimator("lin", unbounded, "regression", 0).fit(X, y).predict(far), ridge.predict(far))


def test_a_time_ordered_projects_linear_regression_carries_its_trend_on():
    assert _pipeline_model("regression")["linear"].bounded is True
    from dropml.config import TrainingSettings
    from dropml.training.steps import configured_estimator

    conf = TrainingSettings(time_column="date", task="regression")
    assert configured_estimator("linear", conf.models["linear"], conf, "regression", 100).bounded is False


def test_config_json_ships_the_same_models_as_the_code_defaults():
    # two places name the default models: config.json (what users read and edit) and TrainingSettings (what a
    # config.json without "models" gets); a tuning kept in one and not the other would train differently per world
    from dropml.config import TrainingSettings, load_settings

    shipped = load_settings(environ={}).training.models
    assert shipped == TrainingSettings().models
    boosting = build_estimator("gradient_boosting", shipped["gradient_boosting"], "regression", 0)
    assert boosting.min_samples_leaf == 5
