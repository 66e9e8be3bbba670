"""Step 6b/7: splits, metrics, cross-validation of one pipeline, and the ranked leaderboard.

The same metric function scores the CV folds and the holdout, so the numbers
are comparable. Splits never leak: random data gets a (stratified) shuffle,
time-ordered data a split by time with a ``horizon``-step gap, so no training
target comes from the holdout period.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dropml.errors import BadInput, ConfigError
from dropml.scoring.metrics import LOWER_IS_BETTER, compute_metrics, metric_names
from dropml.training.parallel import Plan, run_tasks

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MIN_ROWS = 20

# Classification metrics that average over classes, so a rare class weighs as much as a common one.
MACRO_METRICS = frozenset({"f1_macro", "precision_macro", "recall_macro"})


def balanced_classes(class_weight: str, rank_metric: str, task: str) -> bool:
    """Whether classifiers get ``class_weight="balanced"``: asked for, or ``auto`` and a macro-averaged rank metric.

    Raises:
        ConfigError: ``rank_metric`` is not a ``task`` metric.
    """
    if task != "classification":
        return False
    return class_weight == "balanced" or (
        class_weight == "auto" and resolve_rank_metric(rank_metric, task) in MACRO_METRICS
    )


def resolve_rank_metric(rank_metric: str, task: str) -> str:
    """``auto`` → f1_macro (classification) or rmse (regression); otherwise check it exists.

    Raises:
        ConfigError: a metric that is not computed for ``task``.
    """
    if rank_metric == "auto":
        return "f1_macro" if task == "classification" else "rmse"
    if rank_metric not in metric_names(task):
        raise ConfigError(
            f"rank_metric {rank_metric!r} is not a {task} metric; choose one of {', '.join(metric_names(task))}"
        )
    return rank_metric


class PipelineScorer:
    """Picklable scoring callable (scikit-learn's scorer signature): all metrics from one prediction pass."""

    def __init__(self, task: str) -> None:
        self.task = task

    def __call__(self, estimator: Any, X: Any, y: Any) -> dict[str, float]:  # noqa: N803
        """Metric name → value (NaN when undefined, so folds average as numbers)."""
        proba = classes = None
        if self.task == "classification" and hasattr(estimator, "predict_proba"):
            # one pass: the label is the most probable class, as predict() computes it for our estimators
            proba, classes = estimator.predict_proba(X), estimator.classes_
            y_pred = classes[np.argmax(proba, axis=1)]
        else:
            y_pred = estimator.predict(X)
        found = compute_metrics(self.task, y, y_pred, proba, classes)
        return {k: (np.nan if v is None else v) for k, v in found.items()}


# ── splits ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Split:
    """Row positions of the train and holdout parts, and CV folds (positions within train)."""

    train: np.ndarray
    holdout: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    kind: str


def _too_few(rows: int, needed: int, what: str) -> BadInput:
    return BadInput(
        "rows",
        rows,
        f"only {rows} usable {what} after cleaning; at least {needed} are needed for cross-validation and a holdout",
    )


def random_split(labels: pd.Series, task: str, cv_folds: int, test_size: float, random_state: int) -> Split:
    """A shuffled (stratified for classification) train/holdout split and K folds of the train part.

    Raises:
        BadInput: too few rows (or rows of a class) to cross-validate.
    """
    from sklearn.model_selection import train_test_split

    rows = len(labels)
    needed = max(MIN_ROWS, 4 * cv_folds)
    if rows < needed:
        raise _too_few(rows, needed, "rows")
    positions = np.arange(rows)
    # classes as sorted integer codes: the same strata and folds as the labels themselves (scikit-learn sorts them
    # too), without sorting a million strings in every splitter
    y = pd.factorize(labels, sort=True)[0] if task == "classification" else labels.to_numpy()
    stratify = y if task == "classification" else None
    holdout_rows: float | int = test_size
    if stratify is not None:  # a stratified holdout needs a row of every class
        holdout_rows = max(math.ceil(test_size * rows), int(pd.Series(y).nunique()))
    train, holdout = train_test_split(positions, test_size=holdout_rows, random_state=random_state, stratify=stratify)
    train, holdout = np.sort(train), np.sort(holdout)
    folds, splitter = _row_folds(y[train], task, cv_folds, random_state)
    return Split(train=train, holdout=holdout, folds=folds, kind=f"{splitter}({len(folds)})")


def _row_folds(
    y: np.ndarray, task: str, cv_folds: int, random_state: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Shuffled K folds of rows whose labels are ``y`` (stratified, and fewer if a class is rarer, for classes)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "classification":
        smallest = int(pd.Series(y).value_counts().min())
        folds_used = max(2, min(cv_folds, smallest))
        splitter: Any = StratifiedKFold(n_splits=folds_used, shuffle=True, random_state=random_state)
    else:
        splitter = KFold(n_splits=cv_folds, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y)), type(splitter).__name__


MIN_GROUPS = 5  # a grouped split needs whole keys for the holdout and for at least two CV folds


def grouped_split(
    labels: pd.Series, groups: pd.Series, task: str, cv_folds: int, test_size: float, random_state: int
) -> Split:
    """A split that keeps every group's rows on one side: of the holdout, and of each CV fold of the train part.

    ``groups`` holds one code per row (a declared row key): the scores then
    measure predictions for keys the models never saw, as serving meets
    them, instead of rewarding a model for recognising a key's other rows.
    Classification stratifies whole groups (StratifiedGroupKFold); the holdout
    is one of ``round(1 / test_size)`` such folds.

    Raises:
        BadInput: too few rows, or fewer than ``MIN_GROUPS`` keys.
    """
    rows = len(labels)
    needed = max(MIN_ROWS, 4 * cv_folds)
    if rows < needed:
        raise _too_few(rows, needed, "rows")
    codes = groups.to_numpy()
    keys = len(np.unique(codes))
    if keys < MIN_GROUPS:
        raise BadInput(
            "row_key",
            keys,
            f"only {keys} distinct row key(s); a split by row key needs at least {MIN_GROUPS} (whole keys are held "
            "out), so declare a finer row_key or none",
        )
    y = pd.factorize(labels, sort=True)[0] if task == "classification" else labels.to_numpy()
    holdout_folds = min(keys, max(2, round(1 / test_size)))
    with warnings.catch_warnings():  # a class rarer than the folds: whole keys cannot always spread it, say nothing
        warnings.simplefilter("ignore", UserWarning)
        train, holdout = next(_group_folds(task, holdout_folds, random_state).split(np.zeros(rows), y, codes))
        train, holdout = np.sort(train), np.sort(holdout)
        splitter = _group_folds(task, max(2, min(cv_folds, len(np.unique(codes[train])))), random_state)
        folds = list(splitter.split(np.zeros(len(train)), y[train], codes[train]))
    return Split(train=train, holdout=holdout, folds=folds, kind=f"{type(splitter).__name__}({len(folds)}) by row key")


def _group_folds(task: str, folds: int, random_state: int) -> Any:
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if task == "classification":
        return StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    return GroupKFold(n_splits=folds, shuffle=True, random_state=random_state)


def time_split(times: pd.Series, cv_folds: int, test_size: float, horizon: int) -> Split:
    """Holdout = the latest ``test_size`` of time steps; CV = TimeSeriesSplit over time steps; gaps of ``horizon``.

    Whole time steps move together (all groups of a day stay on one side), and
    the last ``horizon`` steps before each test part are left out of training,
    because their targets lie in the test period.

    Raises:
        BadInput: too few time steps.
    """
    from sklearn.model_selection import TimeSeriesSplit

    steps = np.sort(times.unique())
    needed = max(MIN_ROWS // 2, (cv_folds + 1) * 2 + 2 * horizon)
    if len(steps) < needed:
        raise _too_few(len(steps), needed, "time steps")
    n_hold = max(1, math.ceil(len(steps) * test_size))
    cut = len(steps) - n_hold
    step_of = np.searchsorted(steps, times.to_numpy())
    train = np.flatnonzero(step_of < cut - horizon)
    holdout = np.flatnonzero(step_of >= cut)
    train_steps = step_of[train]
    splitter = TimeSeriesSplit(n_splits=cv_folds, gap=horizon)
    folds = []
    for fold_train, fold_test in splitter.split(np.arange(cut - horizon)):
        folds.append(
            (np.flatnonzero(np.isin(train_steps, fold_train)), np.flatnonzero(np.isin(train_steps, fold_test)))
        )
    return Split(train=train, holdout=holdout, folds=folds, kind=f"TimeSeriesSplit({cv_folds}, gap={horizon})")


def sample_folds(
    split: Split, labels: pd.Series, task: str, max_rows: int, random_state: int, groups: pd.Series | None = None
) -> Split:
    """``split`` with its CV folds rebuilt on a random sample of ``max_rows`` rows of its train part, if larger.

    Cross-validation ranks the models; a sample of 100,000 rows ranks them
    about as well as a million at a tenth of the cost, so CV costs no more
    on a big file than on a mid-sized one and training time grows with the
    rows only through the fits on the whole train part (which the holdout
    scores, every row of it). The sample is stratified for classification
    and takes whole keys when ``groups`` are given. Time-ordered splits are
    not sampled: lag features need each series' rows.
    """
    rows = len(split.train)
    if rows <= max_rows:
        return split
    y = pd.factorize(labels, sort=True)[0] if task == "classification" else labels.to_numpy()
    y_train = y[split.train]
    cv_folds = len(split.folds)
    if groups is None:
        from sklearn.model_selection import train_test_split

        stratify = y_train if task == "classification" else None
        sample, _ = train_test_split(np.arange(rows), train_size=max_rows, random_state=random_state, stratify=stratify)
        sample = np.sort(sample)
        inner, _ = _row_folds(y_train[sample], task, cv_folds, random_state)
    else:
        keys = groups.to_numpy()[split.train]
        order = np.random.default_rng(random_state).permutation(np.unique(keys))
        sizes = pd.Series(keys).value_counts().reindex(order).to_numpy()
        sample = np.flatnonzero(np.isin(keys, order[: int(np.searchsorted(np.cumsum(sizes), max_rows)) + 1]))
        inner = list(_group_folds(task, cv_folds, random_state).split(sample, y_train[sample], keys[sample]))
    folds = [(sample[fit], sample[test]) for fit, test in inner]
    kind = f"{split.kind}, cross-validated on {len(sample):,} of the {rows:,} training rows"
    return Split(train=split.train, holdout=split.holdout, folds=folds, kind=kind)


# ── one model ─────────────────────────────────────────────────────────────────


@dataclass
class ModelResult:
    """One evaluated model: its fitted pipeline (on the train part), metrics and timings."""

    name: str
    estimator: str
    pipeline: Pipeline | None
    metrics: dict[str, float | None]
    params: dict[str, Any]
    baseline: bool = False
    rank: int = 0
    search: dict[str, Any] = field(default_factory=dict)
    selected_features: list[str] = field(default_factory=list)
    classes: list[Any] | None = None
    pickle_path: str | None = None  # where the fitted pipeline was spooled (then ``pipeline`` is None)


def fold_scores(
    pipeline: Pipeline,
    features: pd.DataFrame,
    labels: pd.Series,
    fit_rows: np.ndarray,
    test_rows: np.ndarray,
    task: str,
) -> dict[str, float]:
    """Fit ``pipeline`` on the ``fit_rows`` positions and score the ``test_rows`` ones: one CV fold, one task.

    Returns every metric of ``task`` (NaN where undefined) plus ``fit_seconds`` and ``score_seconds``.
    """
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        pipeline.fit(features.iloc[fit_rows], labels.iloc[fit_rows].to_numpy())
        fitted = time.perf_counter()
        scores = PipelineScorer(task)(pipeline, features.iloc[test_rows], labels.iloc[test_rows].to_numpy())
    return {**scores, "fit_seconds": fitted - started, "score_seconds": time.perf_counter() - fitted}


def mean_fold_scores(folds: list[dict[str, float]], task: str) -> dict[str, float | None]:
    """Mean of each metric over the folds where it is defined (None where it never is), and ``cv_fit_seconds``."""
    means: dict[str, float | None] = {}
    for name in metric_names(task):
        values = np.asarray([fold[name] for fold in folds], dtype=float)
        finite = values[np.isfinite(values)]
        means[name] = float(finite.mean()) if len(finite) else None
    means["cv_fit_seconds"] = float(np.mean([fold["fit_seconds"] for fold in folds]))
    return means


def fold_tasks(
    pipeline: Pipeline, features: pd.DataFrame, labels: pd.Series, split: Split, task: str
) -> list[Callable[[], dict[str, float]]]:
    """One picklable task per CV fold of the split's train part (each fits its own copy of ``pipeline``).

    When the folds cover a sample of the train part (:func:`sample_folds`),
    the tasks carry that sample only, not every row to a worker per fold.
    """
    from sklearn.base import clone

    rows = split.train
    folds = split.folds
    used = np.unique(np.concatenate([np.concatenate(fold) for fold in folds])) if folds else rows[:0]
    if len(used) < len(rows):
        features, labels = features.iloc[rows[used]], labels.iloc[rows[used]]
        rows, folds = np.arange(len(used)), [(np.searchsorted(used, a), np.searchsorted(used, b)) for a, b in folds]
    return [partial(fold_scores, clone(pipeline), features, labels, rows[fit], rows[test], task) for fit, test in folds]


def cross_validated(
    pipeline: Pipeline,
    features: pd.DataFrame,
    labels: pd.Series,
    split: Split,
    task: str,
    cpus: int,
    work_seconds: float = math.inf,
) -> dict[str, float | None]:
    """Mean CV metrics of ``pipeline`` over the split's folds (train part only), folds in parallel on ``cpus``.

    ``work_seconds``: the CPU time the folds are expected to take (small work runs in this process).
    """

    tasks = fold_tasks(pipeline, features, labels, split, task)
    return mean_fold_scores(run_tasks(tasks, Plan.for_tasks(cpus, len(tasks), work_seconds)), task)


def fit_and_hold_out(
    pipeline: Pipeline, features: pd.DataFrame, labels: pd.Series, split: Split, task: str
) -> dict[str, float | None]:
    """Fit on the train part (the pipeline that gets published), score the holdout; metrics and timings."""
    x_train, y_train = features.iloc[split.train], labels.iloc[split.train].to_numpy()
    x_hold, y_hold = features.iloc[split.holdout], labels.iloc[split.holdout].to_numpy()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        pipeline.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    proba = classes = None
    if task == "classification" and hasattr(pipeline, "predict_proba"):
        # one pass: the label is the most probable class, as predict() computes it for our estimators
        proba, classes = pipeline.predict_proba(x_hold), pipeline.classes_
        y_pred = classes[np.argmax(proba, axis=1)]
    else:
        y_pred = pipeline.predict(x_hold)
    predict_seconds = time.perf_counter() - started
    held = compute_metrics(task, y_hold, y_pred, proba, classes)
    return {
        **{f"holdout_{k}": v for k, v in held.items()},
        "fit_seconds": round(fit_seconds, 4),
        "predict_seconds": round(predict_seconds, 4),
    }


# ── ranking ───────────────────────────────────────────────────────────────────


def better(a: float | None, b: float | None, metric: str) -> bool:
    """Whether score ``a`` beats ``b`` on ``metric`` (None never beats anything)."""
    if a is None:
        return False
    if b is None:
        return True
    return a < b if metric in LOWER_IS_BETTER else a > b


def rank_results(results: list[ModelResult], rank_metric: str) -> list[ModelResult]:
    """Rank models by CV ``rank_metric`` (direction-aware; missing last); the best non-baseline is rank 1.

    Returns the results in rank order, with ``rank`` set; the champion is first.

    Raises:
        ValueError: no non-baseline model.
    """
    sign = 1.0 if rank_metric in LOWER_IS_BETTER else -1.0

    def sort_key(result: ModelResult) -> tuple[int, float, str]:
        value = result.metrics.get(rank_metric)
        if value is None or not math.isfinite(value):
            return (1, 0.0, result.name)
        return (0, sign * value, result.name)

    ordered = sorted(results, key=sort_key)
    champion = next((r for r in ordered if not r.baseline), None)
    if champion is None:
        raise ValueError("no non-baseline model to be champion")
    ordered.remove(champion)
    ordered.insert(0, champion)  # contract: the champion is rank 1, even if the baseline scored better
    for position, result in enumerate(ordered, start=1):
        result.rank = position
    return ordered


def leaderboard_frame(ranked: list[ModelResult], task: str) -> pd.DataFrame:
    """The leaderboard: one row per model in rank order, CV and holdout metrics, timings, params."""
    import json

    names = metric_names(task)
    rows = []
    for result in ranked:
        row: dict[str, Any] = {
            "rank": result.rank,
            "model": result.name,
            "estimator": result.estimator,
            "baseline": result.baseline,
            "champion": result.rank == 1,
        }
        row.update({name: result.metrics.get(name) for name in names})
        row.update({f"holdout_{name}": result.metrics.get(f"holdout_{name}") for name in names})
        row["fit_seconds"] = result.metrics.get("fit_seconds")
        row["predict_seconds"] = result.metrics.get("predict_seconds")
        row["params"] = json.dumps(result.params, sort_keys=True, default=str)
        rows.append(row)
    return pd.DataFrame(rows)
