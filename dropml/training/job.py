"""The training job: one training CSV key in, one published model version (manifest last) out.

:func:`run_training` runs every step, and only after all validation and
fitting succeeded claims a version number and uploads: pickles, leaderboard,
reports, then the manifest (its put event publishes the version). Success or
failure, it writes an audit record and announces the outcome on SNS.
"""

from __future__ import annotations

import io
import logging
import platform
import re
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dropml
from dropml import logs, notify, registry, storage
from dropml.config import settings
from dropml.errors import BadInput, ConfigError, DropmlError
from dropml.experiments import stored_overrides
from dropml.faults import failpoint
from dropml.manifest import CodeVersion, DataSource, Manifest, ModelEntry
from dropml.storage import keys

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import TrainingSettings
    from dropml.manifest import Artifact, InputSchema
    from dropml.training.clean import CleanResult
    from dropml.training.evaluation import ModelResult, Split
    from dropml.training.ingest import TrainingData

logger = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RESERVED_ARTIFACTS = frozenset({"leaderboard", "report", "manifest"})
LIBRARIES = ("scikit-learn", "pandas", "numpy", "joblib", "scipy", "matplotlib")


def new_run_id() -> str:
    """A fresh, sortable run id: ``train-<UTC time>-<random>``."""
    return f"train-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def code_version() -> CodeVersion:
    """The dropml version, git commit, Python and library versions producing this run."""
    from importlib.metadata import PackageNotFoundError, version

    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            continue
    return CodeVersion(
        dropml=dropml.__version__, git=dropml.code_version(), python=platform.python_version(), libraries=libraries
    )


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


def _pickle(pipeline: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def _spool(pipeline: Any, folder: str, name: str) -> str:
    import joblib

    path = str(Path(folder) / f"{name}.pkl")
    joblib.dump(pipeline, path)
    return path


def _pickled(result: ModelResult) -> bytes:
    if result.pickle_path:
        return Path(result.pickle_path).read_bytes()
    return _pickle(result.pipeline)


def publish_version(trained: TrainedVersion, project: str, run_id: str) -> Manifest:
    """Claim the next version and upload it: pickles, leaderboard, reports, then the manifest LAST."""
    from dropml.training.report import ReportContent, render_report

    version = registry.claim_version(project, run_id)
    created_at = registry.utc_now()
    artifacts: dict[str, Artifact] = {}
    for result in trained.ranked:
        artifacts[result.name] = registry.write_artifact(
            project, version, f"{result.name}.pkl", _pickled(result), "application/octet-stream"
        )
        failpoint("after_first_pickle")
    board = trained.leaderboard.to_csv(index=False).encode()
    artifacts["leaderboard"] = registry.write_artifact(project, version, keys.LEADERBOARD_NAME, board, "text/csv")

    reports: dict[str, str] = {}
    for name, png in trained.plots.items():
        artifacts[f"plot_{name}"] = registry.write_artifact(
            project, version, f"{name}.png", png, "image/png", report=True
        )
        reports[name] = artifacts[f"plot_{name}"].key
    content = ReportContent(
        project=project,
        version=version,
        data_key=trained.data.key,
        created_at=created_at,
        task=trained.cleaned.task,
        target=trained.conf.target,
        rank_metric=trained.rank_metric,
        champion=trained.champion.name,
        quality=trained.cleaned.quality,
        summary=trained.summary,
        leaderboard=trained.leaderboard,
        selected_features=trained.selected_features,
        plots=trained.plots,
        split=trained.split.kind,
    )
    artifacts["report"] = registry.write_artifact(
        project, version, keys.REPORT_NAME, render_report(content), "text/html; charset=utf-8", report=True
    )
    reports["report"] = artifacts["report"].key

    manifest = build_manifest(trained, project, version, run_id, created_at, artifacts, reports)
    failpoint("before_manifest")
    registry.write_manifest(manifest)  # last: its put event publishes the version
    return manifest


def build_manifest(
    trained: TrainedVersion,
    project: str,
    version: int,
    run_id: str,
    created_at: str,
    artifacts: dict[str, Artifact],
    reports: dict[str, str],
) -> Manifest:
    """The manifest of an uploaded version."""
    cleaned, data = trained.cleaned, trained.data
    classes = trained.champion.classes if cleaned.task == "classification" else None
    quality = {**cleaned.quality, "split": trained.split.kind, "train_rows": len(trained.split.train)}
    quality["holdout_rows"] = len(trained.split.holdout)
    return Manifest(
        project=project,
        version=version,
        created_at=created_at,
        run_id=run_id,
        data=DataSource(
            key=data.key,
            etag=data.etag,
            sha256=data.sha256,
            rows=len(data.frame),
            columns=len(data.frame.columns),
            bytes=data.size,
        ),
        code=code_version(),
        config=trained.conf.model_dump(mode="json"),
        target=trained.conf.target,
        task=cleaned.task,
        classes=classes,
        input_schema=trained.schema,
        selected_features=trained.selected_features,
        data_quality=quality,
        artifacts=artifacts,
        models=[
            ModelEntry(
                name=r.name,
                estimator=r.estimator,
                artifact=r.name,
                rank=r.rank,
                metrics={k: v for k, v in r.metrics.items() if k != "cv_fit_seconds"},
                params=r.params,
                baseline=r.baseline,
            )
            for r in trained.ranked
        ],
        rank_metric=trained.rank_metric,
        champion=trained.champion.name,
        reports=reports,
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


@dataclass
class _Run:
    """What the audit record and the notification say about one run, filled in as it goes."""

    run_id: str
    data_key: str
    started_at: datetime
    clock: float
    project: str | None = None
    conf: TrainingSettings | None = None
    data: TrainingData | None = None

    def record(self, outcome: str, **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.data_key}
        if self.data is not None:
            data.update(
                etag=self.data.etag,
                sha256=self.data.sha256,
                bytes=self.data.size,
                rows=len(self.data.frame),
                columns=len(self.data.frame.columns),
            )
        return {
            "run_id": self.run_id,
            "outcome": outcome,
            "project": self.project,
            "data": data,
            "code": code_version().model_dump(),
            "config": self.conf.model_dump(mode="json") if self.conf else None,
            "started_at": self.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "finished_at": registry.utc_now(),
            "duration_seconds": round(time.perf_counter() - self.clock, 3),
            "correlation_id": logs.current_correlation_id(),
            **extra,
        }

    def write_audit(self, record: dict[str, Any]) -> str | None:
        key = keys.audit_key("training", self.started_at, f"{self.run_id}.json")
        try:
            storage.put_json(key, record)
        except Exception:  # the audit must never hide the run's own outcome
            logger.exception("training audit record not written", extra={"audit_key": key})
            return None
        return key


def run_training(data_key: str, overrides: dict[str, Any] | None = None, run_id: str | None = None) -> Manifest:
    """Train every configured model on the CSV at ``data_key`` and publish a new version of its project.

    ``train/x.csv`` trains project ``default``, ``train/<p>/x.csv`` project
    ``<p>``; ``overrides`` replace training settings for this run only. On
    failure nothing is published (no manifest, no version number taken when
    the input was bad), an audit record and a failure notification name the
    error, and the error is re-raised.

    Raises:
        BadInput: a bad key, run id or training file (empty, unreadable, too
            large, missing target, single class, junk, too few rows).
        ConfigError: invalid settings or overrides.
        NotFound: no object at ``data_key``.
    """
    run = _Run(run_id or new_run_id(), data_key, datetime.now(UTC), time.perf_counter())
    with logs.correlation(logs.current_correlation_id() or run.run_id):
        try:
            if not RUN_ID.match(run.run_id):
                raise BadInput("run_id", run.run_id, f"run id {run.run_id!r} must match {RUN_ID.pattern}")
            run.project = keys.parse_data_key(data_key, "train").project
            # overrides stored by the experiments API apply to every run of the project
            run.conf = settings().training_for(run.project, {**stored_overrides(run.project), **(overrides or {})})
            logger.info("training started", extra={"data_key": data_key, "project": run.project, "run_id": run.run_id})
            from dropml.training.ingest import load_training_data

            run.data = load_training_data(data_key)
            failpoint("after_ingest")
            with tempfile.TemporaryDirectory(prefix="dropml-train-") as spool_dir:
                trained = train(run.data, run.conf, spool_dir)
                manifest = publish_version(trained, run.project, run.run_id)
        except Exception as err:
            _announce_failure(run, err)
            raise
        _announce_success(run, trained, manifest)
    return manifest


def _announce_failure(run: _Run, err: Exception) -> None:
    expected = isinstance(err, DropmlError)  # bad input or config: the message says it all, no traceback
    logger.warning("training failed", extra={"data_key": run.data_key, "error": str(err)}, exc_info=not expected)
    record = run.record("failed", version=None, error=str(err), error_type=type(err).__name__)
    audit = run.write_audit(record)
    notify.announce(
        "training",
        "failed",
        f"training {run.data_key} failed: {err}",
        project=run.project,
        version=None,
        data_key=run.data_key,
        run_id=run.run_id,
        error=str(err),
        error_type=type(err).__name__,
        audit_key=audit,
    )


def _announce_success(run: _Run, trained: TrainedVersion, manifest: Manifest) -> None:
    champion = manifest.model(manifest.champion)
    manifest_key = keys.manifest_key(manifest.project, manifest.version)
    metrics = {m.name: m.metrics for m in manifest.models}
    record = run.record(
        "succeeded",
        version=manifest.version,
        manifest_key=manifest_key,
        champion=manifest.champion,
        rank_metric=manifest.rank_metric,
        metrics=metrics,
        timings={k: round(v, 3) for k, v in trained.timings.items()},
        search={r.name: r.search for r in trained.ranked if r.search},
        error=None,
    )
    audit = run.write_audit(record)
    score = champion.metrics.get(manifest.rank_metric)
    shown = f"{score:.4g}" if isinstance(score, float) else "n/a"
    notify.announce(
        "training",
        "succeeded",
        f"{manifest.project} v{manifest.version}: {manifest.champion} {manifest.rank_metric}={shown}",
        project=manifest.project,
        version=manifest.version,
        data_key=run.data_key,
        run_id=run.run_id,
        champion=manifest.champion,
        rank_metric=manifest.rank_metric,
        metrics=champion.metrics,
        manifest_key=manifest_key,
        artifacts={name: artifact.key for name, artifact in manifest.artifacts.items()},
        audit_key=audit,
    )
    logger.info(
        "training succeeded",
        extra={"project": manifest.project, "version": manifest.version, "champion": manifest.champion},
    )
