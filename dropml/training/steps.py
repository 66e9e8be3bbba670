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

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import TrainingSettings
    from dropml.manifest import InputSchema
    from dropml.training.clean import CleanResult
    from dropml.training.evaluation import ModelResult, Split
    from dropml.training.ingest import TrainingData

logger = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RESERVED_ARTIFACTS = frozenset({"leaderboard", "report", "manifest"})


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


def fit_models(
    cleaned: CleanResult, conf: TrainingSettings, split: Split, rank_metric: str, spool_dir: str | None = None
) -> list[ModelResult]:
    """Cross-validate (and optionally tune) every configured model, then fit each on the train part.

    With ``spool_dir``, each fitted pipeline is pickled there right away and
    dropped from memory (a forest on 100k rows is hundreds of MB), so peak
    memory holds one fitted model, not all of them.

    Raises:
        ConfigError: an unknown estimator or parameter.
    """
    from sklearn.pipeline import Pipeline

    from dropml.training import evaluation, models, search
    from dropml.training.features import build_preprocess
    from dropml.training.selection import build_selector, selected_features

    features, labels = cleaned.features, cleaned.labels
    budget = conf.search_time_budget_seconds
    tunable = [n for n, s in conf.models.items() if s.estimator != "dummy" and models.applicable_space(s, cleaned.task)]
    per_model_budget = budget / len(tunable) if tunable else 0.0

    def pipeline_for(name: str, extra: dict[str, Any] | None = None) -> Pipeline:
        spec = conf.models[name]
        estimator = models.build_estimator(name, spec, cleaned.task, conf.random_state, extra)
        preprocess = build_preprocess(
            cleaned.kinds,
            conf.max_categories,
            conf.time_column,
            conf.group_column,
            conf.target if conf.time_column else None,
            conf.lags,
        )
        selector = build_selector(conf.feature_selection, cleaned.task, conf.random_state)
        return Pipeline([("preprocess", preprocess), ("select", selector), ("model", estimator)])

    def evaluate(name: str, extra: dict[str, Any] | None = None) -> dict[str, float | None]:
        return evaluation.cross_validated(pipeline_for(name, extra), features, labels, split, cleaned.task, conf.n_jobs)

    results = []
    for name, spec in conf.models.items():
        started = time.perf_counter()
        cv_metrics = evaluate(name)
        outcome = search.random_search(
            lambda extra, name=name: evaluate(name, extra),
            models.applicable_space(spec, cleaned.task) if spec.estimator != "dummy" else {},
            cv_metrics,
            rank_metric,
            per_model_budget,
            conf.random_state,
            default_seconds=time.perf_counter() - started,
        )
        pipeline = pipeline_for(name, outcome.params)
        held = evaluation.fit_and_hold_out(pipeline, features, labels, split, cleaned.task)
        search_info = {"tried": outcome.tried, "seconds": outcome.seconds, "best": outcome.params} if budget else {}
        result = evaluation.ModelResult(
            name=name,
            estimator=spec.estimator,
            pipeline=pipeline,
            metrics={**outcome.metrics, **held},
            params=models.describe_params(pipeline.named_steps["model"]),
            baseline=spec.estimator == "dummy",
            search=search_info,
            selected_features=selected_features(pipeline),
            classes=[_plain(c) for c in pipeline.classes_] if cleaned.task == "classification" else None,
        )
        if spool_dir:
            result.pickle_path = _spool(pipeline, spool_dir, name)
            result.pipeline = None
        results.append(result)
        logger.info("model evaluated", extra={"model": name, rank_metric: outcome.metrics.get(rank_metric)})
    return results


def train(data: TrainingData, conf: TrainingSettings, spool_dir: str | None = None) -> TrainedVersion:
    """Every step before publishing: clean, schema, EDA, split, fit and rank models (pickles spooled to ``spool_dir``).

    Raises:
        BadInput: the data cannot train a model (named problem).
        ConfigError: the training settings are unusable.
    """
    from dropml.training import eda, evaluation
    from dropml.training.clean import clean_frame
    from dropml.training.schema import build_input_schema

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    check_model_names(conf)
    cleaned = clean_frame(data.frame, conf)
    cleaned.quality["file_format"] = data.csv_format.describe()  # how the bytes were read, for the report
    rank_metric = evaluation.resolve_rank_metric(conf.rank_metric, cleaned.task)
    schema = build_input_schema(cleaned.frame, cleaned.kinds, conf.time_column, conf.group_column)
    if conf.time_column:
        split = evaluation.time_split(cleaned.frame[conf.time_column], conf.cv_folds, conf.test_size, conf.horizon)
    else:
        split = evaluation.random_split(cleaned.labels, cleaned.task, conf.cv_folds, conf.test_size, conf.random_state)
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


def _spool(pipeline: Any, folder: str, name: str) -> str:
    import joblib

    path = str(Path(folder) / f"{name}.pkl")
    joblib.dump(pipeline, path)
    return path


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
