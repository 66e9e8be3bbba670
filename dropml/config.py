"""Load and validate config.json (plus environment overrides) into one frozen settings object.

Every tunable lives here. An unknown key, a wrong type or a bad value stops
startup with a message naming the file, the key and the value.

Environment overrides use ``DROPML__<SECTION>__<KEY>=value`` (value parsed as
JSON when it parses, else taken as a string), e.g.
``DROPML__STORAGE__BUCKET=my-bucket`` or ``DROPML__DASK__BATCH_THRESHOLD=50``.
``DROPML_CONFIG`` points at another config file. boto3's own
``AWS_ENDPOINT_URL`` is honoured by every client, so it alone points dropml at
a local stand-in.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dropml.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.json"
ENV_PREFIX = "DROPML__"
PROJECT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Section):
    """Where data and models live."""

    bucket: str = Field("dropml-data", min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    region: str = "us-east-1"
    endpoint_url: str | None = None  # None: AWS, or whatever AWS_ENDPOINT_URL says
    # a training file or dataset up to this size is accepted; above dask.train_above_bytes it trains on Dask, so the
    # task's memory no longer bounds it (a 3 GB CSV trains by default)
    max_training_bytes: int = Field(64 * 1024**3, ge=1)
    max_scoring_bytes: int = Field(200 * 1024 * 1024, ge=1)
    retry_max_attempts: int = Field(8, ge=1, le=20)


class FeatureSelectionSettings(_Section):
    """The selection step inside every pipeline."""

    method: Literal["k_best", "model", "none"] = "k_best"
    # 100, not 30: a 50-level category is 50 one-hot columns, and 30 dropped some of them (bench/quality.py)
    max_features: int = Field(100, ge=1)


class ModelSpec(_Section):
    """One estimator to train: a name from dropml.training.models and its parameters."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, list[Any]] = Field(default_factory=dict)
    # Trained only on data of at most this many rows (after cleaning); None: always. For models that pay on
    # small data but cost too much time or memory on large data (extra_trees' fully grown trees).
    max_rows: int | None = Field(None, ge=1)

    def applies_to(self, rows: int) -> bool:
        """Whether a run on ``rows`` cleaned rows trains this model."""
        return self.max_rows is None or rows <= self.max_rows


# extra_trees' rows cap: below it, fully grown extremely randomised trees often beat the forest (bench/quality.py:
# star98 RMSE 318 -> 270, vega-stocks 23.0 -> 14.0, grunfeld 44.0 -> 22.8) at a fraction of its fit time; their
# size grows with the rows (about 40 MiB pickled at 8,000 rows x 30 columns, 488 MiB at 100,000), and at
# 100,000 rows they made the job 1.5-1.9x the hand-written run (bench/train.py).
EXTRA_TREES_MAX_ROWS = 5000


# Boosting's smallest leaf: scikit-learn's 20 rows starves trees on the few hundred rows many real sets have. Over
# the 25 zoo sets x 3 splits (scratch runs of the job's steps, 3 December 2026) 5 changed the champion's holdout
# score in 15 runs: 12 better (vega-airports RMSE up to 24 % lower, vega-barley 18 %, sm-modechoice macro F1
# +0.7..+4.0 points, the one set FLAML led by more than 2 over 5 splits), 3 worse (vega-stocks -18.7 % on one
# split, seattle-weather -2.7 points, barley -1.4 %); 10 was worse than 20 (6 better, 6 worse, net -23 points).
# Trees stay at max_leaf_nodes (31) leaves: a fit on 100,000 x 30 took 1.7-1.8 s with 5 and 1.6-1.9 s with 20.
GRADIENT_BOOSTING_MIN_LEAF = 5


def _default_models() -> dict[str, ModelSpec]:
    return {
        "baseline": ModelSpec(estimator="dummy"),
        "linear": ModelSpec(
            estimator="linear",
            search_space={"C": [0.1, 1.0, 10.0], "class_weight": [None, "balanced"]},
        ),
        "random_forest": ModelSpec(
            estimator="random_forest",
            params={"n_estimators": 100, "min_samples_leaf": 2},
            search_space={
                "max_depth": [None, 8, 16],
                "min_samples_leaf": [1, 2, 5],
                "class_weight": [None, "balanced"],
            },
        ),
        "gradient_boosting": ModelSpec(
            estimator="hist_gradient_boosting",
            params={"min_samples_leaf": GRADIENT_BOOSTING_MIN_LEAF},
            search_space={
                "learning_rate": [0.05, 0.1, 0.2],
                "max_leaf_nodes": [15, 31, 63],
                "min_samples_leaf": [5, 10, 20],
                "class_weight": [None, "balanced"],
            },
        ),
        "extra_trees": ModelSpec(estimator="extra_trees", max_rows=EXTRA_TREES_MAX_ROWS),
    }


class TrainingSettings(_Section):
    """How one project's models are trained; a project may override any field."""

    target: str = "target"
    task: Literal["auto", "classification", "regression"] = "auto"
    rank_metric: str = "auto"  # auto: f1_macro for classification, rmse for regression
    models: dict[str, ModelSpec] = Field(default_factory=_default_models)
    cv_folds: int = Field(5, ge=2, le=20)
    test_size: float = Field(0.2, gt=0.0, lt=0.9)
    random_state: int = 42
    feature_selection: FeatureSelectionSettings = FeatureSelectionSettings()
    time_column: str | None = None
    group_column: str | None = None
    horizon: int = Field(1, ge=1)
    # Rows are observations: equal rows are all kept. A row key names the columns that say which rows belong to
    # one thing (a customer, a respondent, an order): every split then keeps all of a key's rows on one side of
    # the holdout and of each CV fold, and the key columns are not features. A time-ordered project's key is
    # (group_column, time_column) and it is split by time; it takes no row_key.
    row_key: list[str] = Field(default_factory=list)
    # What a repeated row key means: "keep_all" (repeated observations of one thing) or "keep_latest" (versions
    # of one record: the last in the file is kept, the others counted in the data-quality report). A
    # time-ordered project always keeps the latest row of a (group_column, time_column) pair.
    repeated_row_keys: Literal["keep_all", "keep_latest"] = "keep_all"
    lags: list[int] = Field(default_factory=lambda: [1, 2, 3, 7])
    search_time_budget_seconds: float = Field(0.0, ge=0.0)
    # Classifiers' class weights: "balanced" weighs each class by the inverse of its share, "none" by rows;
    # "auto" balances when the rank metric averages over classes (f1_macro, the default): a rare class then
    # counts as much in the score as in the fit.
    class_weight: Literal["auto", "balanced", "none"] = "auto"
    # Bootstrap forests (random_forest) draw each tree's rows from at most this many of the data set's: a tree
    # grows with its rows (at 800,000 noisy rows, 53,000 nodes and 4 MiB pickled per tree, 7 s to fit; from
    # 100,000 rows, 11,000 nodes, 0.9 MiB, 1 s), so a big file would make a forest too slow to fit and too big
    # to compile and serve. On bench/train.py's 1M x 30 rows (800,000 to train; CPU seconds of one fit, one
    # thread; holdout macro F1): 20,000 a tree 19 s, 0.933; 30,000 25 s, 0.938; 50,000 41 s, 0.942; 100,000
    # about 90 s, 0.946 (histogram boosting: 28 s, 0.953). A model's own params.max_samples wins.
    rows_per_tree: int = Field(30_000, ge=1000)
    # Cross-validation ranks the models on at most this many rows of the train part (a stratified sample; whole
    # keys with a row_key; time-ordered projects are never sampled), so a big file's CV costs what a mid-sized
    # one's does; every model is still fitted on the whole train part and scored on the whole holdout.
    cv_max_rows: int = Field(50_000, ge=1000)
    # Histogram boosting on more than 10,000 rows stops by itself (10 % of its rows validate, 10 rounds without
    # gain stop it) after at most this many rounds; on fewer rows it runs scikit-learn's 100. A model's own
    # params.max_iter wins.
    boosting_rounds: int = Field(300, ge=1)
    max_categories: int = Field(50, ge=2)
    eda_max_features: int = Field(12, ge=1)
    # CPUs a run uses: -1 every CPU of its task (affinity, cgroup quota, ECS task limit), k at most k of them
    n_jobs: int = Field(-1, ge=-1)
    # A project fed by drops (data/<project>/...) trains on its Parquet dataset, or on its newest days / rows of it
    dataset_window_days: int | None = Field(None, ge=1)
    dataset_window_rows: int | None = Field(None, ge=1)

    @field_validator("models")
    @classmethod
    def _at_least_three(cls, models: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        real = [name for name, spec in models.items() if spec.estimator != "dummy" and spec.max_rows is None]
        if len(real) < 3:
            raise ValueError(f"at least 3 non-baseline models without max_rows are required (got {real})")
        return models

    @field_validator("n_jobs")
    @classmethod
    def _some_cpus(cls, n_jobs: int) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs must be -1 (every CPU of the task) or a number of CPUs >= 1")
        return n_jobs

    @field_validator("lags")
    @classmethod
    def _positive_lags(cls, lags: list[int]) -> list[int]:
        if any(lag < 1 for lag in lags):
            raise ValueError(f"lags must be >= 1 (got {lags})")
        return sorted(set(lags))

    @model_validator(mode="after")
    def _group_needs_time(self) -> TrainingSettings:
        if self.group_column and not self.time_column:
            raise ValueError(f"group_column {self.group_column!r} needs a time_column")
        return self

    @model_validator(mode="after")
    def _row_key_columns(self) -> TrainingSettings:
        if not self.row_key:
            if self.repeated_row_keys != "keep_all":
                raise ValueError("repeated_row_keys needs a row_key (the columns that identify a record)")
            return self
        if self.time_column:
            raise ValueError(
                f"row_key {self.row_key} is for projects without a time_column: a time-ordered project's rows "
                "are keyed by (group_column, time_column) and split by time"
            )
        if len(set(self.row_key)) != len(self.row_key) or self.target in self.row_key:
            raise ValueError(f"row_key {self.row_key} must name distinct columns other than the target")
        return self

    def record_key(self) -> list[str]:
        """The columns whose repeated values are versions of one record (the latest wins); [] when rows never are.

        A time-ordered project's (group_column, time_column); a row key kept
        latest; else nothing: repeated rows are observations, all kept.
        """
        if self.time_column:
            return [self.group_column, self.time_column] if self.group_column else [self.time_column]
        return list(self.row_key) if self.repeated_row_keys == "keep_latest" else []


class ServingSettings(_Section):
    """The web app and file scoring."""

    model_ttl_seconds: float = Field(5.0, ge=0.0)
    # behind API Gateway + Lambda the body must fit Lambda's 6 MB payload after base64: the Zappa stage sets
    # 4,400,000 (dropml.usecases.deploy.API_GATEWAY_MAX_BODY_BYTES); gunicorn and the local world take 10 MiB
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    # an answer larger than this (as Lambda would carry it: escaped text or base64) is replaced by a 413 naming
    # the limit: Lambda's 6 MB response limit would turn it into a 502; the Zappa stage sets it, None elsewhere
    max_answer_bytes: int | None = Field(None, ge=1024)
    # pyarrow's CSV reader for bodies >= 1 MiB; false where pyarrow is not installed (the Zappa package)
    fast_csv_read: bool = True
    max_batch_rows: int = Field(1_000_000, ge=1)
    default_project: str = "default"
    # answer plain JSON predict requests in web/json_lane.py (the same checks, scoring, audit and answer as the
    # Flask route, without Flask's request machinery); false sends every request through Flask
    json_lane: bool = True
    # reasons with each prediction: the champion's largest contributions per input column (?explain=true, the
    # form's and upload page's checkbox; explain_files: every file scored under test/ too)
    explain_top: int = Field(5, ge=1, le=100)  # contributions shown per row (the others are summed)
    explain_max_rows: int = Field(10_000, ge=1)  # rows one request or file may have explained
    explain_files: bool = False


class DaskSettings(_Section):
    """Where big batches are scored."""

    batch_threshold: int = Field(10, ge=1)
    scheduler_address: str | None = None  # None: a LocalCluster started once per process
    n_workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    # LocalCluster workers as threads of this process (False: models and rows are shared, not pickled, and
    # scikit-learn's predict releases the GIL) or as child processes (True: isolated, but every batch is copied)
    local_processes: bool = False
    partition_rows: int = Field(250_000, ge=1)  # at most, per task; at least one task per worker thread
    # Training data (a file or a dataset) above this many bytes trains on a Dask cluster made for the run
    # (dropml.training.distributed); at or below it, in the job's own process, which keeps its cleaning, CV, five
    # models and ONNX forms and is the faster path while the data fits. In process bench/train.py's 250k x 30 CSV
    # (61 MiB) peaked at 1,400 MiB and its 1M x 30 CSV (243 MiB) at 3,634 MiB (docs/benchmarks.md): about
    # 0.65 GiB + 12.3 x the CSV. 384 MiB so the 1M-row file stays in process with room, and the largest file kept
    # in process peaks near 5.3 GiB in the stack's 8 GiB task (TrainingMemory); raise both together.
    train_above_bytes: int = Field(384 * 1024 * 1024, ge=1)
    # The run's cluster: "local" a LocalCluster of worker processes in the job's task (the local world, one big
    # task), "ecs" Fargate worker tasks the run starts (ecs:RunTask) and stops: $0 when no run needs them
    training_cluster: Literal["local", "ecs"] = "local"
    training_workers: int = Field(2, ge=1, le=100)
    training_threads_per_worker: int = Field(1, ge=1)
    training_worker_memory: str = Field("4GiB", pattern=r"^[0-9]+(\.[0-9]+)?\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)$")
    training_worker_task_definition: str = "dropml-training-worker"
    training_worker_start_seconds: float = Field(300.0, gt=0)  # Fargate workers that have not joined by then: fail
    training_partition_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # of a dataset or CSV read per task


class LauncherSettings(_Section):
    """How a training or scoring job is started: a local process or an ECS Fargate task."""

    kind: Literal["local", "ecs"] = "local"
    cluster: str = "dropml"
    task_definition: str = "dropml-training"
    container_name: str = "train"
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = True


class NotifySettings(_Section):
    """The SNS topic every step announces success and failure on."""

    # The stack's EventsTopic (template.yaml passes it to every function and the job; the local world sets its own).
    # None: announcements are logged as not sent, and kept under audit/announcements/ as always.
    topic_arn: str | None = None


class AuditSettings(_Section):
    """What prediction audit records keep."""

    store_inputs_max_rows: int = Field(10, ge=0)
    flush_interval_seconds: float = Field(5.0, gt=0.0)
    flush_max_records: int = Field(500, ge=1)
    # On Lambda a frozen container must hold no unwritten record: flush at the end of each
    # invocation (zappa_settings.json sets it); a long-running server flushes in the background.
    flush_every_request: bool = False


class DriftSettings(_Section):
    """How a batch is compared with its version's training profile (dropml.monitoring.drift)."""

    # a column's test (Kolmogorov-Smirnov for numbers, chi-square for categories) decides up to this many of its
    # values in the batch; above it, any real difference is "significant", so the distance decides (Evidently's rule)
    test_max_rows: int = Field(1000, ge=10)
    p_value: float = Field(0.05, gt=0.0, lt=1.0)
    wasserstein: float = Field(0.1, gt=0.0)  # Wasserstein distance / the reference's standard deviation
    jensen_shannon: float = Field(0.1, gt=0.0, le=1.0)
    # a batch's numbers are compared on a uniform sample of at most this many rows (its counts cover every row): past
    # test_max_rows the distances decide, and a 20,000-row sample puts them within about 1 % of the whole batch's
    max_rows: int = Field(20_000, ge=100)
    profile_points: int = Field(500, ge=20, le=100_000)  # a numeric column's reference: its values at so many quantiles


class MonitoringThresholds(_Section):
    """A drift report crossing any of these is announced on SNS (each a share, 0 to 1)."""

    drifted_share: float = Field(0.5, gt=0.0, le=1.0)  # of the tested columns
    outside_range_share: float = Field(0.2, gt=0.0, le=1.0)  # of the rows: a value past the training range
    unknown_category_share: float = Field(0.1, gt=0.0, le=1.0)  # of the categorical values: never seen in training
    missing_share_increase: float = Field(0.2, gt=0.0, le=1.0)  # a column's missing share over its training share


class TrafficSampleSettings(_Section):
    """The bounded sample of API inputs the audit trail keeps for the daily drift report (dropml.audit.InputSample).

    Each serving process keeps a reservoir of at most ``rows`` rows per project and version (a uniform sample of
    what it scored) and writes it under ``audit/samples/`` with the audit records once per ``window_seconds``,
    at most ``max_bytes_per_day`` bytes per process and UTC day (later windows of that day only count their rows).
    """

    # 200 rows per 15 minutes: at most 19,200 rows a day per process and version, about 16 MiB of 30 number columns
    rows: int = Field(200, ge=0)  # 0: keep no sample
    window_seconds: float = Field(900.0, gt=0.0)
    max_bytes_per_day: int = Field(16 * 1024 * 1024, ge=1024)


class RealizedSettings(_Section):
    """Realized accuracy: labelled rows joined with the predictions dropml made, checked against the holdout."""

    window_rows: int = Field(100, ge=1)  # the check compares the last so many labelled rows of the live version
    margin: float = Field(0.1, ge=0.0, lt=1.0)  # relative: 0.1 = 10 % worse than the holdout's rank metric
    lookback_days: int = Field(14, ge=1, le=366)  # how far back predictions are joined with labels that arrive


class ChallengerSettings(_Section):
    """A challenger scored in the shadow, held to the champion on the same labelled rows (dropml.monitoring.challenger).

    With ``monitoring.auto_promote`` the challenger is made live once, on the last ``window_rows`` rows both versions
    predicted and whose labels arrived, it is better than the champion on the rank metric by more than ``margin``.
    """

    window_rows: int = Field(200, ge=1)  # labelled rows both versions predicted
    margin: float = Field(0.02, ge=0.0, lt=1.0)  # relative: 0.02 = 2 % better than the champion


class MonitoringSettings(_Section):
    """Drift, realized accuracy and what follows from them (``projects`` overrides any key per project)."""

    drift: DriftSettings = DriftSettings()
    thresholds: MonitoringThresholds = MonitoringThresholds()
    traffic_sample: TrafficSampleSettings = TrafficSampleSettings()
    realized: RealizedSettings = RealizedSettings()
    auto_rollback: bool = False  # realized below the holdout by the margin: roll the project back to its previous live
    challenger: ChallengerSettings = ChallengerSettings()
    auto_promote: bool = False  # the challenger beats the champion by challenger.margin: make it live
    projects: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("projects")
    @classmethod
    def _valid_projects(cls, projects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, overrides in projects.items():
            if not PROJECT_NAME_PATTERN.match(name):
                raise ValueError(f"project name {name!r} must match {PROJECT_NAME_PATTERN.pattern}")
            if "projects" in overrides:
                raise ValueError(f"project {name!r}: projects cannot be nested")
            try:
                MonitoringSettings.model_validate(overrides)
            except ValidationError as err:
                raise ValueError(f"project {name!r}: {_describe(err, '')}") from None
        return projects

    def for_project(self, project: str) -> MonitoringSettings:
        """These settings with ``projects[project]``'s overrides applied (sections merged key by key)."""
        overrides = self.projects.get(project)
        if not overrides:
            return self
        merged = self.model_dump()
        for key, value in overrides.items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
        return MonitoringSettings.model_validate({**merged, "projects": {}})


class Settings(_Section):
    """Everything dropml can be told, validated once."""

    stack_name: str = Field("dropml", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    storage: StorageSettings = StorageSettings()
    training: TrainingSettings = TrainingSettings()
    projects: dict[str, dict[str, Any]] = Field(default_factory=dict)
    serving: ServingSettings = ServingSettings()
    dask: DaskSettings = DaskSettings()
    launcher: LauncherSettings = LauncherSettings()
    notifications: NotifySettings = NotifySettings()
    audit: AuditSettings = AuditSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    admin_api_key: str | None = None

    @field_validator("projects")
    @classmethod
    def _valid_projects(cls, projects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        base = TrainingSettings().model_dump()
        for name, overrides in projects.items():
            if not PROJECT_NAME_PATTERN.match(name):
                raise ValueError(f"project name {name!r} must match {PROJECT_NAME_PATTERN.pattern}")
            try:
                TrainingSettings.model_validate({**base, **overrides})
            except ValidationError as err:
                raise ValueError(f"project {name!r}: {_describe(err, '')}") from None
        return projects

    def training_for(self, project: str, overrides: dict[str, Any] | None = None) -> TrainingSettings:
        """The training settings of one project: defaults, then its config entry, then ``overrides``.

        Raises:
            ConfigError: if the merged settings are invalid (names key and value).
        """
        merged = {**self.training.model_dump(), **self.projects.get(project, {}), **(overrides or {})}
        try:
            return TrainingSettings.model_validate(merged)
        except ValidationError as err:
            raise ConfigError(_describe(err, f"training settings of project {project!r}")) from None

    def model_version_parameter(self, project: str) -> str:
        """The SSM parameter that holds a project's live model version."""
        return f"/{self.stack_name}/{project}/model-version"

    def challenger_version_parameter(self, project: str) -> str:
        """The SSM parameter that holds a project's challenger version (``none`` when it has none)."""
        return f"/{self.stack_name}/{project}/challenger-version"


def _describe(err: ValidationError, source: str) -> str:
    parts = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        value = problem.get("input")
        shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
        parts.append(f"{key}: {problem['msg']} (got {shown})")
    prefix = f"{source}: " if source else ""
    return prefix + "; ".join(parts)


def _apply_env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    merged = json.loads(json.dumps(raw))
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment {name}: {part} is not a section")
        node[path[-1]] = value
    return merged


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read config.json (or ``path``/``$DROPML_CONFIG``), apply env overrides, validate.

    Raises:
        ConfigError: unreadable file, bad JSON, unknown key, wrong type or bad value.
    """
    environ = dict(os.environ if environ is None else environ)
    config_path = Path(path or environ.get("DROPML_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        raw = json.loads(config_path.read_text()) if config_path.exists() else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"{config_path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the top level must be an object")
    raw.pop("$comment", None)
    raw = _apply_env_overrides(raw, environ)
    try:
        return Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, config_path.name)) from None


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, loaded once on first use (never at import)."""
    return load_settings()


def reset_settings_cache() -> None:
    """Forget the cached settings, so the next ``settings()`` reloads (tests, CLI overrides)."""
    settings.cache_clear()
