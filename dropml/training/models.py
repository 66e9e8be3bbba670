"""Step 6a: the estimator catalogue (name → factory per task) and random search candidates.

config.json names estimators (``"estimator": "random_forest"``); this module
turns a name plus params into an unfitted scikit-learn estimator. Adding a
model family is one entry in ``ESTIMATORS``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dropml.errors import ConfigError
from dropml.training.bounded import BoundedRidgeCV
from dropml.training.persistence import LastValueRegressor

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

    from dropml.config import ModelSpec


def _dummy(task: str) -> BaseEstimator:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    return DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor(strategy="mean")


# Ridge's penalty, chosen per data set by RidgeCV's efficient leave-one-out (one SVD, not a fit per value): a
# fixed alpha=1 over-shrinks collinear lags (crypto-ohlcv) and under-shrinks small noisy sets.
RIDGE_ALPHAS = (1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)


def _linear(task: str) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000) if task == "classification" else BoundedRidgeCV(alphas=RIDGE_ALPHAS)


def _random_forest(task: str) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    return RandomForestClassifier() if task == "classification" else RandomForestRegressor()


def _extra_trees(task: str) -> BaseEstimator:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    return ExtraTreesClassifier() if task == "classification" else ExtraTreesRegressor()


def _hist_gradient_boosting(task: str) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task == "classification":
        return HistGradientBoostingClassifier()
    return HistGradientBoostingRegressor()


def _knn(task: str) -> BaseEstimator:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    return KNeighborsClassifier() if task == "classification" else KNeighborsRegressor()


def _last_value(task: str) -> BaseEstimator:

    if task != "regression":
        raise ConfigError(f"estimator 'last_value' (the persistence baseline) forecasts numbers, not a {task} target")
    return LastValueRegressor()


ESTIMATORS: dict[str, Callable[[str], BaseEstimator]] = {
    "dummy": _dummy,
    "linear": _linear,
    "random_forest": _random_forest,
    "extra_trees": _extra_trees,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "knn": _knn,
    "last_value": _last_value,
}

# Baselines: never tuned, never champion; the bar every model must beat.
BASELINES = frozenset({"dummy", "last_value"})

# CPU seconds of one fit + predict with default parameters on COST_ROWS x COST_COLUMNS numbers, one thread
# (bench/train.py's data: forest 51 s, boosting 3.1 s, linear 0.2 s; extra trees 0.3x a forest at 20k rows),
# scaled linearly to a data set's size. A rough guide: the training pool starts the longest tasks first, so the
# short ones fill the end instead of one core idling behind a forest, and small data sets skip the pool.
COST_ROWS, COST_COLUMNS = 100_000, 30
RELATIVE_COST: dict[str, float] = {
    "random_forest": 50.0,
    "extra_trees": 15.0,
    "hist_gradient_boosting": 3.0,
    "knn": 2.0,
    "linear": 0.3,
    "dummy": 0.01,
    "last_value": 0.01,
}


def build_estimator(
    name: str,
    spec: ModelSpec,
    task: str,
    random_state: int,
    extra: dict[str, Any] | None = None,
    *,
    balanced: bool = False,
    tree_rows: float | None = None,
    bounded: bool = True,
    boosting_rounds: int | None = None,
) -> BaseEstimator:
    """An unfitted estimator for model ``name``: the spec's factory, its params, then ``extra`` (search params).

    ``random_state`` is set wherever the estimator has one, and with
    ``balanced`` ``class_weight="balanced"`` wherever it has that and the spec
    does not set it (training's ``class_weight`` setting). ``tree_rows``
    (:func:`tree_rows_share`) becomes ``max_samples`` of a bootstrap forest
    whose spec does not set it (training's ``rows_per_tree``). ``bounded``
    becomes the linear regression's ``bounded`` unless its spec sets it: False
    for time-ordered projects, whose trend must carry on past the training range
    (:mod:`~dropml.training.bounded`). ``boosting_rounds``
    (:func:`boosting_rounds`) becomes histogram boosting's ``max_iter``, with
    early stopping on, unless its spec sets ``max_iter``. Search params the
    estimator does not have are skipped (one search space serves both tasks:
    LogisticRegression's ``C`` is no parameter of the regression side's RidgeCV).

    Raises:
        ConfigError: an unknown estimator name, or a param the estimator does not have.
    """
    factory = ESTIMATORS.get(spec.estimator)
    if factory is None:
        raise ConfigError(
            f"models.{name}.estimator: unknown estimator {spec.estimator!r}; known: {', '.join(sorted(ESTIMATORS))}"
        )
    estimator = factory(task)
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(spec.params) - set(valid))
    if unknown:
        raise ConfigError(
            f"models.{name}.params: {type(estimator).__name__} has no parameter(s) {', '.join(unknown)} "
            f"(got {spec.params}); valid: {', '.join(sorted(valid))}"
        )
    params = dict(spec.params)
    if "random_state" in valid and "random_state" not in params:
        params["random_state"] = random_state
    if balanced and "class_weight" in valid and "class_weight" not in params:
        params["class_weight"] = "balanced"
    if "bounded" in valid and "bounded" not in params:
        params["bounded"] = bounded
    bootstrap = params.get("bootstrap", valid.get("bootstrap", False))
    if tree_rows is not None and bootstrap and "max_samples" in valid and "max_samples" not in params:
        params["max_samples"] = tree_rows
    if boosting_rounds is not None and "early_stopping" in valid and "max_iter" not in params:
        params.update(max_iter=boosting_rounds, early_stopping=True)
    params.update({k: v for k, v in (extra or {}).items() if k in valid})
    return estimator.set_params(**params)


def tree_rows_share(rows: int, rows_per_tree: int) -> float | None:
    """The share of its training rows each tree of a bootstrap forest draws: None (all) up to ``rows_per_tree`` rows.

    A share, not a count: cross-validation fits on fewer rows than the final
    fit, and scikit-learn refuses a count above the rows it is given.
    """
    return None if rows <= rows_per_tree else rows_per_tree / rows


# scikit-learn's HistGradientBoosting stops early by itself ('auto') above this many rows
EARLY_STOPPING_ROWS = 10_000


def boosting_rounds(rows: int, max_rounds: int) -> int | None:
    """Histogram boosting's rounds on ``rows`` rows: None (its own 100) up to ``EARLY_STOPPING_ROWS``, else more.

    Above it, scikit-learn already holds out 10 % of the rows and stops after
    10 rounds without gain; 100 rounds then often stop it before it has
    learnt what the rows hold (1M rows x 30: macro F1 0.941 at 100 rounds,
    0.953 when it stopped by itself at 238). Early stopping is set explicitly,
    so the CV folds of a set just above the threshold stop early too.
    """
    return max_rounds if rows > EARLY_STOPPING_ROWS else None


def applicable_space(spec: ModelSpec, task: str) -> dict[str, list[Any]]:
    """The part of a model's search space its estimator (for ``task``) actually has."""
    if not spec.search_space or spec.estimator not in ESTIMATORS:
        return {}
    valid = ESTIMATORS[spec.estimator](task).get_params(deep=False)
    return {key: list(values) for key, values in spec.search_space.items() if key in valid and values}


def search_candidates(space: dict[str, list[Any]], seed: int, limit: int = 1000) -> Iterator[dict[str, Any]]:
    """Distinct random parameter combinations from ``space`` (at most ``limit``), reproducible by ``seed``."""
    if not space:
        return
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    names = sorted(space)
    total = 1
    for name in names:
        total *= len(space[name])
    seen: set[tuple[str, ...]] = set()
    while len(seen) < min(total, limit):
        combo = {name: rng.choice(space[name]) for name in names}
        fingerprint = tuple(repr(combo[n]) for n in names)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        yield combo


def describe_params(estimator: BaseEstimator) -> dict[str, Any]:
    """The estimator's own parameters as JSON-friendly values (for the manifest and leaderboard)."""
    described: dict[str, Any] = {}
    for key, value in estimator.get_params(deep=False).items():
        if value is None or isinstance(value, bool | int | float | str):
            described[key] = value
        else:
            described[key] = repr(value)
    return described
