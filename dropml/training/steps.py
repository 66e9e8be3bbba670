"""Running the training steps: clean, schema, EDA, split, fit and rank every model, before any version exists.

:func:`train` turns one training frame into a :class:`TrainedVersion` (fitted
pipelines spooled to disk, leaderboard, plots, quality report); nothing is
uploaded here, so a failure in any step leaves S3 untouched.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropml.errors import ConfigError
from dropml.training import eda, evaluation, models, parallel, search
from dropml.training.clean import clean_frame
from dropml.training.evaluation import balanced_classes
from dropml.training.features import build_preprocess
from dropml.training.persistence import PERSISTENCE_ESTIMATOR, PERSISTENCE_MODEL, persistence_pipeline, persistence_spec
from dropml.training.schema import build_input_schema
from dropml.training.selection import build_selector, selected_features

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

    from dropml.config import ModelSpec, TrainingSettings
    from dropml.manifest import InputSchema
    from dropml.training.clean import CleanResult
    from dropml.training.evaluation import ModelResult, Split
    from dropml.training.ingest import TrainingData

logger = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RESERVED_ARTIFACTS = frozenset({"leaderboard", "report", "manifest", "profile"})


@dataclass
class TrainedVersion:
    """Everything a version is made of, before a version number exists."""

    data: TrainingData
    cleaned: CleanResult
    schema: InputSchema
    conf: TrainingSettings
    split: Split
    ranked: list[ModelResult]
    rank_metric: str
    selected_features: list[str]
    summary: dict[str, Any]
    plots: dict[str, bytes]
    leaderboard: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def champion(self) -> ModelResult:
        """The rank-1 model."""
        return self.ranked[0]


def check_model_names(conf: TrainingSettings) -> None:
    """Model names become artifact names and file names: refuse clashes and odd characters.

    Raises:
        ConfigError: a reserved or unusable model name.
    """

    for name in conf.models:
        if name in RESERVED_ARTIFACTS or name.startswith("plot_") or not RUN_ID.match(name):
            raise ConfigError(
                f"models.{name}: model names must match {RUN_ID.pattern} and not be "
                f"{', '.join(sorted(RESERVED_ARTIFACTS))} or start with plot_"
            )
        if name == PERSISTENCE_MODEL and conf.time_column:
            raise ConfigError(
                f"models.{name}: the name is taken by the persistence baseline of time-ordered projects; rename it"
            )


def model_specs(conf: TrainingSettings, task: str, rows: int | None = None) -> dict[str, ModelSpec]:
    """The models a run on ``rows`` cleaned rows trains.

    The configured ones (less those whose ``max_rows`` is below ``rows``), plus
    the persistence baseline for time-ordered regression.
    """

    specs = {name: spec for name, spec in conf.models.items() if rows is None or spec.applies_to(rows)}
    persistence = persistence_spec(conf, task)
    if persistence is not None:
        specs[PERSISTENCE_MODEL] = persistence
    return specs


@dataclass
class PublishableFit:
    """What fitting a model on the whole train part yields: holdout metrics and the pipeline (or its spooled pickle)."""

    metrics: dict[str, float | None]
    selected_features: list[str]
    classes: list[Any] | None
    pipeline: Pipeline | None
    pickle_path: str | None


def fit_for_publishing(
    pipeline: Pipeline,
    features: pd.DataFrame,
    labels: pd.Series,
    split: Split,
    task: str,
    pickle_path: str | None = None,
) -> PublishableFit:
    """Fit ``pipeline`` on the train part and score the holdout; pickle it to ``pickle_path`` when given.

    Runs as a task of the training pool: the pickle is written where the model
    was fitted, so a forest of hundreds of MB is never copied between processes.
    """

    held = evaluation.fit_and_hold_out(pipeline, features, labels, split, task)
    classes = [_plain(c) for c in pipeline.classes_] if task == "classification" else None
    fitted = PublishableFit(held, selected_features(pipeline), classes, pipeline, None)
    if pickle_path:
        fitted.pickle_path, fitted.pipeline = _spool(pipeline, pickle_path), None
    return fitted


def configured_estimator(
    name: str, spec: ModelSpec, conf: TrainingSettings, task: str, rows: int, extra: dict[str, Any] | None = None
) -> BaseEstimator:
    """Model ``name``'s unfitted estimator as a run on ``rows`` cleaned rows fits it.

    The training settings that shape every estimator apply here, once:
    ``class_weight`` (:func:`~dropml.training.evaluation.balanced_classes`),
    ``rows_per_tree`` (:func:`~dropml.training.models.tree_rows_share`),
    ``boosting_rounds`` (:func:`~dropml.training.models.boosting_rounds`), and
    ``time_column`` (a time-ordered project's linear regression is not bounded).
    ``bench/train.py``'s hand-written side builds its estimators here too.

    Raises:
        ConfigError: an unknown estimator or parameter.
    """

    balanced = balanced_classes(conf.class_weight, conf.rank_metric, task)
    return models.build_estimator(
        name,
        spec,
        task,
        conf.random_state,
        extra,
        balanced=balanced,
        tree_rows=models.tree_rows_share(rows, conf.rows_per_tree),
        bounded=not conf.time_column,
        boosting_rounds=models.boosting_rounds(rows, conf.boosting_rounds),
    )


def build_model_pipeline(
    name: str, spec: ModelSpec, cleaned: CleanResult, conf: TrainingSettings, extra: dict[str, Any] | None = None
) -> Pipeline:
    """The unfitted ``preprocess``/``select``/``model`` pipeline of one model (``extra``: search parameters).

    Raises:
        ConfigError: an unknown estimator or parameter.
    """
    from sklearn.pipeline import Pipeline

    estimator = configured_estimator(name, spec, conf, cleaned.task, len(cleaned.frame), extra)
    if spec.estimator == PERSISTENCE_ESTIMATOR:  # reads the raw last value: no scaling, no selection
        return persistence_pipeline(estimator)
    preprocess = build_preprocess(
        cleaned.kinds,
        conf.max_categories,
        conf.time_column,
        conf.group_column,
        conf.target if conf.time_column else None,
        conf.lags,
        cleaned.word_columns,
    )
    selector = build_selector(conf.feature_selection, cleaned.task, conf.random_state)
    return Pipeline([("preprocess", preprocess), ("select", selector), ("model", estimator)])


def fit_models(
    cleaned: CleanResult, conf: TrainingSettings, split: Split, rank_metric: str, spool_dir: str | None = None
) -> list[ModelResult]:
    """Cross-validate (and optionally tune) every model, and fit each on the train part, on all the task's CPUs.

    Every fold of every model and every model's fit on the whole train part
    are tasks of one pool (:mod:`~dropml.training.parallel`), longest first.
    With a search budget, each tunable model's candidates are then
    cross-validated (folds in parallel) and the best refitted. With
    ``spool_dir``, each fitted pipeline is pickled there by the task that
    fitted it and dropped from memory, so memory holds one fitted model per
    worker, not all of them.

    Raises:
        ConfigError: an unknown estimator or parameter.
    """
    from functools import partial

    features, labels, task = cleaned.features, cleaned.labels, cleaned.task
    specs = model_specs(conf, task, len(cleaned.frame))
    cpus = parallel.resolve_n_jobs(conf.n_jobs, parallel.available_cpus())
    budget = conf.search_time_budget_seconds
    spaces = {n: models.applicable_space(s, task) for n, s in specs.items() if s.estimator not in models.BASELINES}
    tunable = [n for n, space in spaces.items() if space]
    per_model_budget = budget / len(tunable) if tunable else 0.0

    def pipeline_for(name: str, extra: dict[str, Any] | None = None) -> Pipeline:
        return build_model_pipeline(name, specs[name], cleaned, conf, extra)

    def publishing_task(name: str, extra: dict[str, Any] | None = None) -> Any:
        path = str(Path(spool_dir) / f"{name}.pkl") if spool_dir else None
        return partial(fit_for_publishing, pipeline_for(name, extra), features, labels, split, task, path)

    fits, fold_scores = _fit_in_one_pool(specs, cleaned, split, cpus, pipeline_for, publishing_task)

    results = []
    for name, spec in specs.items():
        cv_metrics = evaluation.mean_fold_scores(fold_scores[name], task)
        spent = sum(f["fit_seconds"] + f["score_seconds"] for f in fold_scores[name])
        one_candidate = spent / min(cpus, len(split.folds))  # the wall time of one candidate's folds in parallel
        outcome = search.random_search(
            lambda extra, name=name, spent=spent: evaluation.cross_validated(
                pipeline_for(name, extra), features, labels, split, task, cpus, work_seconds=spent
            ),
            spaces.get(name, {}),
            cv_metrics,
            rank_metric,
            per_model_budget,
            conf.random_state,
            default_seconds=one_candidate,
        )
        fitted = fits[name]
        if outcome.params:  # the search found better parameters than the defaults fitted above
            refit = parallel.Plan.for_tasks(cpus, 1, work_seconds=fits[name].metrics["fit_seconds"] or 0.0)
            fitted = parallel.run_tasks([publishing_task(name, outcome.params)], refit)[0]  # in this process
        search_info = {"tried": outcome.tried, "seconds": outcome.seconds, "best": outcome.params} if budget else {}
        results.append(
            evaluation.ModelResult(
                name=name,
                estimator=spec.estimator,
                pipeline=fitted.pipeline,
                metrics={**outcome.metrics, **fitted.metrics},
                params=models.describe_params(pipeline_for(name, outcome.params).named_steps["model"]),
                baseline=spec.estimator in models.BASELINES,
                search=search_info,
                selected_features=fitted.selected_features,
                classes=fitted.classes,
                pickle_path=fitted.pickle_path,
            )
        )
        logger.info("model evaluated", extra={"model": name, rank_metric: outcome.metrics.get(rank_metric)})
    return results


def _fit_in_one_pool(
    specs: dict[str, Any],
    cleaned: CleanResult,
    split: Split,
    cpus: int,
    pipeline_for: Any,
    publishing_task: Any,
) -> tuple[dict[str, PublishableFit], dict[str, list[dict[str, float]]]]:
    """Every model's folds and its fit on the whole train part, as tasks of one pool, longest first.

    Returns each model's publishable fit and its per-fold scores.
    """

    features, labels, task = cleaned.features, cleaned.labels, cleaned.task
    # one pool for everything: (cost, model, task), longest first
    # a fold fits on its part of the rows CV uses (a sample of the train part, on a big file)
    fold_share = len(split.folds[0][0]) / len(split.train) if split.folds else 0.0
    scale = len(split.train) / models.COST_ROWS * len(cleaned.kinds) / models.COST_COLUMNS
    work: list[tuple[float, str, Any]] = []
    for name, spec in specs.items():
        cost = models.RELATIVE_COST.get(spec.estimator, 1.0) * scale
        work.append((cost, name, publishing_task(name)))
        folds = evaluation.fold_tasks(pipeline_for(name), features, labels, split, task)
        work.extend((cost * fold_share, name, fold) for fold in folds)
    work.sort(key=lambda item: -item[0])
    plan = parallel.Plan.for_tasks(cpus, len(work), work_seconds=sum(item[0] for item in work))
    started = time.perf_counter()
    outputs = parallel.run_tasks([item[2] for item in work], plan)
    seconds = round(time.perf_counter() - started, 3)
    logger.info("models fitted", extra={"cpus": cpus, "workers": plan.workers, "tasks": len(work), "seconds": seconds})
    fits: dict[str, PublishableFit] = {}
    fold_scores: dict[str, list[dict[str, float]]] = {name: [] for name in specs}
    for (_, name, _), output in zip(work, outputs, strict=True):
        if isinstance(output, PublishableFit):
            fits[name] = output
        else:
            fold_scores[name].append(output)

    return fits, fold_scores


def split_rows(cleaned: CleanResult, conf: TrainingSettings) -> Split:
    """The holdout and CV folds: by time (time-ordered), by whole row keys (a declared row_key), else shuffled.

    Above ``cv_max_rows`` training rows the CV folds cover a sample of them
    (:func:`~dropml.training.evaluation.sample_folds`).

    Rows that are equal but carry no declared key are split like any others:
    they are separate observations, and the rows a model meets in serving
    repeat the common ones too (bench/repeats.py measures both splits).

    Raises:
        BadInput: too few rows, time steps or row keys to hold out and cross-validate.
    """
    if conf.time_column:
        return evaluation.time_split(cleaned.frame[conf.time_column], conf.cv_folds, conf.test_size, conf.horizon)
    labels, task, groups = cleaned.labels, cleaned.task, cleaned.groups
    if groups is not None:
        split = evaluation.grouped_split(labels, groups, task, conf.cv_folds, conf.test_size, conf.random_state)
    else:
        split = evaluation.random_split(labels, task, conf.cv_folds, conf.test_size, conf.random_state)
    return evaluation.sample_folds(split, labels, task, conf.cv_max_rows, conf.random_state, groups)


def train(data: TrainingData, conf: TrainingSettings, spool_dir: str | None = None) -> TrainedVersion:
    """Every step before publishing: clean, schema, EDA, split, fit and rank models (pickles spooled to ``spool_dir``).

    Raises:
        BadInput: the data cannot train a model (named problem).
        ConfigError: the training settings are unusable.
    """

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    check_model_names(conf)
    cleaned = clean_frame(data.frame, conf)
    cleaned.quality["file_format"] = data.csv_format.describe()  # how the bytes were read, for the report
    rank_metric = evaluation.resolve_rank_metric(conf.rank_metric, cleaned.task)
    schema = build_input_schema(
        cleaned.frame, cleaned.kinds, conf.time_column, conf.group_column, any_text=cleaned.word_columns
    )
    split = split_rows(cleaned, conf)
    timings["clean_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    summary = eda.summarize(cleaned.frame, cleaned.kinds, cleaned.target, cleaned.task)
    plots = eda.render_plots(
        cleaned.frame, cleaned.kinds, cleaned.target, cleaned.task, conf.eda_max_features, conf.random_state
    )
    timings["eda_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    results = fit_models(cleaned, conf, split, rank_metric, spool_dir)
    ranked = evaluation.rank_results(results, rank_metric)
    timings["models_seconds"] = time.perf_counter() - clock
    if ranked[0].metrics.get(rank_metric) is not None and any(
        r.baseline and evaluation.better(r.metrics.get(rank_metric), ranked[0].metrics.get(rank_metric), rank_metric)
        for r in ranked
    ):
        cleaned.quality["warnings"].append(
            f"the baseline beat every model on {rank_metric}: the features may carry little signal"
        )
    leaderboard = evaluation.leaderboard_frame(ranked, cleaned.task)
    plots["leaderboard"] = eda.plot_leaderboard(leaderboard, rank_metric)
    return TrainedVersion(
        data=data,
        cleaned=cleaned,
        schema=schema,
        conf=conf,
        split=split,
        ranked=ranked,
        rank_metric=rank_metric,
        selected_features=ranked[0].selected_features,
        summary=summary,
        plots=plots,
        leaderboard=leaderboard,
        timings=timings,
    )


def _spool(pipeline: Any, path: str) -> str:
    import joblib

    joblib.dump(pipeline, path)
    return path


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
