"""Training past one task's memory: the data read, split, fitted and scored by partitions on a Dask cluster.

Above ``dask.train_above_bytes`` the job trains here instead of in its own
process. The workers read the data themselves (a dataset's parts, or byte
ranges of a CSV: :func:`read_partitions`), so it never passes through the
job; the job holds only sums, models and a small sample.

- Record keys: with a record key (``row_key`` kept latest), one pass over the
  key columns finds, across all partitions, the rows a later row of the same
  key replaces (:func:`replaced_by_partition`, the rule of
  :mod:`~dropml.training.dedup`); every later read leaves them out.
- Split: a seeded split into train / validation / holdout (:func:`prepare`),
  drawn per row, or from a hash of its ``row_key`` so that all of a key's rows
  fall on one side wherever they lie. The validation part ranks the models (the
  in-process path's cross-validation would re-read the data five times); the
  holdout is scored once, on the cluster, for the manifest and leaderboard.
- Models: the baseline, a ridge model solved exactly from the partitions'
  sums of squares and cross products, and LightGBM trained with
  ``lightgbm.dask`` (each worker trains on the partitions it holds) for
  ``training.boosting_rounds`` rounds, of which the validation rows keep the
  best number (:func:`best_rounds`), as early stopping would.
- Output: the same version as the in-process path: a pickle per model
  (:mod:`~dropml.training.partitioned_models`), its ONNX form when it agrees
  on holdout rows (:mod:`~dropml.training.partitioned_compile`), the
  leaderboard, a report, and the manifest last.

Features are the numeric and true/false columns other than the row key; text
columns are listed in the report's warnings, not used. Time-ordered projects (a label ``horizon``
steps ahead per group) train in one process; see ``docs/scaling.md``.
"""

from __future__ import annotations

import io
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dropml import storage
from dropml.errors import BadInput
from dropml.manifest import ColumnSchema, InputSchema
from dropml.storage import keys
from dropml.storage.csv_format import detect_csv_format
from dropml.training import dataset, evaluation
from dropml.training.clean import decide_task
from dropml.training.compile import NotCompilable
from dropml.training.dedup import replaced_rows
from dropml.training.partitioned_compile import compile_model
from dropml.training.partitioned_models import (
    BoostedModel,
    ColumnStats,
    ConstantModel,
    LinearModel,
    plain_labels,
    ridge_from_gram,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dropml.config import TrainingSettings

logger = logging.getLogger(__name__)

VALIDATION_SHARE = 0.1  # of the train part: ranks the models
COMPILE_CHECK_ROWS = 2000  # holdout rows each compiled form is checked on
# LightGBM's defaults; the number of rounds is training.boosting_rounds, and the validation rows choose how many of
# them the published model keeps (lightgbm.dask has no early stopping: its workers would stop apart and hang)
BOOSTING_PARAMS = {"num_leaves": 31, "learning_rate": 0.1, "min_child_samples": 20}
ROUND_CHECKPOINTS = 12  # the validation rows score the boosted model after every 1/12th of its rounds
MAX_CLASSES = 50


@dataclass(frozen=True)
class Source:
    """Training data too big for one process: where it is, what proves which data it was, and how to cut it."""

    key: str  # the data key (a file, or datasets/<p>/)
    etag: str
    sha256: str
    size: int
    groups: list[tuple[Any, ...]]  # one tuple of arguments of the reader per partition
    reader: str  # "dataset" or "csv"


def locate(data_key: str, project: str, conf: TrainingSettings, partition_bytes: int) -> Source:
    """The partitions of a dataset (its window) or a CSV file, each about ``partition_bytes`` of input.

    Raises:
        NotFound: no such file or dataset.
    """
    if keys.is_dataset_key(data_key):
        info = dataset.describe(project, conf)
        groups: list[tuple[Any, ...]] = []
        current: list[str] = []
        size = 0
        for part in info.parts:
            if current and size >= partition_bytes:
                groups.append((tuple(current),))
                current, size = [], 0
            current.append(part.key)
            size += part.size
        groups.append((tuple(current),))
        return Source(info.key, info.etag, info.sha256, info.size, groups, "dataset")
    head = storage.head(data_key)
    header = storage.read_range(data_key, 0, min(head.size, storage.LOOKAHEAD_BYTES))
    count = max(1, math.ceil(head.size / partition_bytes))
    edges = [round(head.size * i / count) for i in range(count + 1)]
    groups = [(data_key, start, stop, head.size, header) for start, stop in itertools.pairwise(edges)]
    return Source(data_key, head.etag, f"etag:{head.etag}", head.size, groups, "csv")


def read_dataset_group(part_keys: tuple[str, ...], columns: list[str] | None = None) -> pd.DataFrame:
    """One partition: some parts of a dataset, every row, with :data:`~dropml.training.dataset.DROPPED_AT`."""
    return dataset.read_parts(list(part_keys), columns)


def read_csv_block(key: str, start: int, stop: int, size: int, header: bytes) -> pd.DataFrame:
    """One partition: the CSV lines starting in bytes ``[start, stop)``, with the file's header (runs on a worker)."""
    import pandas as pd

    csv_format = detect_csv_format(header)
    columns = pd.read_csv(io.BytesIO(header), nrows=0, **csv_format.read_csv_options()).columns
    body = storage.lines_starting_in(key, start, stop, size)
    if not body.strip():
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    skip = 1 if start == 0 else 0
    options = csv_format.read_csv_options()
    return pd.read_csv(io.BytesIO(body), header=None, names=list(columns), skiprows=skip, **options)


def read_group(reader: str, arguments: tuple[Any, ...], replaced: np.ndarray | None = None) -> pd.DataFrame:
    """One partition's rows, less those a later row of their record key replaces (positions in ``replaced``)."""
    import numpy as np

    if reader == "dataset":
        frame = read_dataset_group(*arguments).drop(columns=[dataset.DROPPED_AT])
    else:
        frame = read_csv_block(*arguments)
    if replaced is not None and len(replaced):
        keep = np.ones(len(frame), dtype=bool)
        keep[replaced] = False
        frame = frame[keep].reset_index(drop=True)
    return frame


def read_partitions(source: Source, replaced: dict[int, np.ndarray] | None = None) -> tuple[Any, pd.DataFrame]:
    """The source as a Dask DataFrame whose partitions the workers read themselves, and its first partition."""
    import dask.dataframe as dd

    replaced = replaced or {}
    drops = [replaced.get(number) for number in range(len(source.groups))]
    sample = read_group(source.reader, source.groups[0], drops[0])
    readers = [source.reader] * len(source.groups)
    parts = dd.from_map(read_group, readers, source.groups, drops, meta=sample.iloc[:0], enforce_metadata=False)
    return parts, sample


# ── record keys: the latest row of each, across partitions ────────────────────

ORDER_COLUMNS = ["__stamp__", "__partition__", "__row__"]  # what "later" means: drop time, then place in the data


def canonical_keys(frame: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """Key values that compare equal across partitions whatever dtype each partition read them as.

    A number is written as a float (``3``, ``3.0`` and ``"3"`` are one key), anything else as text; missing
    stays missing.
    """
    import pandas as pd

    out = {}
    for name in key_columns:
        column = frame[name]
        numbers = pd.to_numeric(column, errors="coerce")
        text = column.astype("string")
        out[name] = text.where(numbers.isna(), numbers.astype("float64").astype("string"))
    return pd.DataFrame(out, index=frame.index)


def key_stamps(reader: str, arguments: tuple[Any, ...], key_columns: list[str], number: int) -> pd.DataFrame:
    """One partition's record keys, each row's drop time (0 for a CSV), partition number and row (runs on a worker)."""
    import numpy as np

    if reader == "dataset":
        frame = read_dataset_group(*arguments, columns=key_columns)
        stamps = frame[dataset.DROPPED_AT].astype("int64").to_numpy()
    else:
        frame = read_csv_block(*arguments)
        stamps = np.zeros(len(frame), dtype="int64")
    out = canonical_keys(frame, key_columns)
    out["__stamp__"] = stamps
    out["__partition__"] = np.full(len(frame), number, dtype="int64")
    out["__row__"] = np.arange(len(frame), dtype="int64")
    return out.reset_index(drop=True)


def replaced_in_bucket(bucket: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """Of one shuffle bucket (every row of the keys it holds), the (partition, row) of each replaced row."""
    replaced = replaced_rows(bucket, key_columns, ORDER_COLUMNS)
    return bucket.loc[replaced, ["__partition__", "__row__"]]


def replaced_by_partition(client: Any, source: Source, key_columns: list[str]) -> dict[int, np.ndarray]:
    """Per partition, the rows a later row of the same record key replaces, anywhere in the data.

    One read of the key columns, shuffled by key so each key's rows meet in one
    task; only the replaced rows' positions come back to the job.
    """
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    count = len(source.groups)
    meta = pd.DataFrame({name: pd.Series(dtype="string") for name in key_columns})
    for name in ORDER_COLUMNS:
        meta[name] = pd.Series(dtype="int64")
    stamps = dd.from_map(
        key_stamps, [source.reader] * count, source.groups, [key_columns] * count, range(count), meta=meta
    )
    buckets = stamps.shuffle(on=key_columns, npartitions=count)
    found = client.compute(
        buckets.map_partitions(replaced_in_bucket, key_columns, meta=meta[["__partition__", "__row__"]]), sync=True
    )
    return {
        int(number): np.sort(rows["__row__"].to_numpy()) for number, rows in found.groupby("__partition__", sort=False)
    }


# ── the plan: which columns, which task ───────────────────────────────────────


@dataclass(frozen=True)
class Plan:
    """What the partitions become: the feature columns, the label, and the task."""

    features: list[str]
    target: str
    task: str
    classes: list[Any] | None
    unused: list[str] = field(default_factory=list)


def make_plan(sample: pd.DataFrame, conf: TrainingSettings, labels: Any) -> Plan:
    """Features and task from a sample partition and the label's distinct values (computed on the cluster).

    Raises:
        BadInput: no target column, no numeric feature, a time-ordered project, or too many classes.
    """
    import pandas as pd

    if conf.time_column:
        raise BadInput(
            "time_column",
            conf.time_column,
            "a time-ordered project's label is each group's value horizon steps ahead, which the Dask path does not "
            "build yet: train a window that fits one task (dataset_window_days or dataset_window_rows) or raise "
            "dask.train_above_bytes",
        )
    if conf.target not in sample.columns:
        raise BadInput("target", conf.target, f"the target column {conf.target!r} is not in the data")
    features, unused = [], []
    for name in sample.columns:
        if name == conf.target or name in conf.row_key:  # a row key says which thing a row is: not a feature
            continue
        column = sample[name]
        numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
        (features if numeric else unused).append(str(name))
    if not features:
        raise BadInput("columns", unused, "the Dask path trains on numeric and true/false columns; this data has none")
    values = pd.Series(list(labels)).dropna()
    task = decide_task(values, conf.task)
    classes = None
    if task == "classification":
        if len(values) > MAX_CLASSES:
            raise BadInput("target", len(values), f"{len(values)} classes: at most {MAX_CLASSES} are trained on Dask")
        classes = plain_labels(sorted(values.tolist(), key=str))
    return Plan(features, conf.target, task, classes, unused)


def split_draws(part: pd.DataFrame, row_key: list[str], seed: int, number: int) -> np.ndarray:
    """A number in [0, 1) per row that places it in the split: random, or from its row key's hash.

    A keyed row's draw depends only on its key's values and the seed, so every
    row of a key gets the same draw in whatever partition it lies; a row with no
    key value draws alone (seeded by the partition's number: the same every run).
    """
    import numpy as np
    import pandas as pd

    draws = np.random.default_rng([seed, number]).random(len(part))
    if not row_key or part.empty:
        return draws
    canonical = canonical_keys(part, row_key)
    keyed = canonical.notna().all(axis=1).to_numpy()
    hashed = pd.util.hash_pandas_object(canonical, index=False, hash_key=f"{seed % 10**16:016d}").to_numpy()
    return np.where(keyed, hashed / 2.0**64, draws)


def prepare(
    part: pd.DataFrame,
    plan: Plan,
    test_size: float,
    seed: int,
    row_key: list[str],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """A partition as float32 feature columns, a ``__label__`` (class codes or values) and a ``__split__`` column.

    ``__split__``: 0 train, 1 validation, 2 holdout (:func:`split_draws`). Rows
    without a label are left out. Dask passes ``partition_info`` (the
    partition's number), so every run draws the same split.
    """
    import numpy as np
    import pandas as pd

    draws = split_draws(part, row_key, seed, (partition_info or {}).get("number", 0))
    # float32: half the memory on the workers; LightGBM bins the values and ONNX trees compare in float32 anyway
    out = pd.DataFrame({name: pd.to_numeric(part[name], errors="coerce").astype("float32") for name in plan.features})
    labels = part[plan.target]
    if plan.classes is None:
        out["__label__"] = pd.to_numeric(labels, errors="coerce").astype("float64").to_numpy()
    else:
        codes = {str(value): code for code, value in enumerate(plan.classes)}
        codes.update({str(float(value)): code for code, value in enumerate(plan.classes) if isinstance(value, int)})
        out["__label__"] = labels.map(lambda v: codes.get(str(v), np.nan) if pd.notna(v) else np.nan).astype("float64")
    validation = test_size + (1 - test_size) * VALIDATION_SHARE
    out["__split__"] = np.where(draws < test_size, 2, np.where(draws < validation, 1, 0)).astype("int8")
    return out[out["__label__"].notna()].reset_index(drop=True)


# ── sums over partitions ──────────────────────────────────────────────────────


def moments(part: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    """Per feature of a partition's train rows: count, sum, sum of squares, minimum, maximum; and label stats."""
    import numpy as np

    train = part[part["__split__"] == 0]
    values = train[features].to_numpy(dtype="float64")
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    label = train["__label__"].to_numpy()
    everything = part[features].to_numpy(dtype="float64")
    return {
        "count": present.sum(axis=0).astype("float64"),
        "sum": filled.sum(axis=0),
        "squares": (filled**2).sum(axis=0),
        "minimum": np.nanmin(np.where(np.isnan(everything), np.inf, everything), axis=0, initial=np.inf),
        "maximum": np.nanmax(np.where(np.isnan(everything), -np.inf, everything), axis=0, initial=-np.inf),
        "rows": np.array([len(train), len(part)], dtype="float64"),
        "label_sum": np.array([label.sum() if len(label) else 0.0]),
        "label_counts": np.bincount(label.astype("int64"), minlength=1).astype("float64")
        if len(label) and np.all(label == np.floor(label)) and label.min() >= 0
        else np.zeros(1),
    }


def gram(part: pd.DataFrame, stats: Any, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """``Z'Z`` and ``Z'Y`` of a partition's train rows (Z standardised columns and a 1; Y value or ±1 per class)."""
    import numpy as np

    train = part[part["__split__"] == 0]
    standard = (stats.matrix(train) - stats.mean) / stats.scale
    design = np.hstack([standard, np.ones((len(train), 1))])
    label = train["__label__"].to_numpy()
    if outputs == 1:
        target = label.reshape(-1, 1)
    else:
        target = -np.ones((len(train), outputs))
        target[np.arange(len(train)), label.astype("int64")] = 1.0
    return design.T @ design, design.T @ target


def scores(
    part: pd.DataFrame, models: dict[str, Any], plan: Plan, rounds: list[int]
) -> dict[str, dict[str, np.ndarray]]:
    """Each model's metric sums over a partition's validation and holdout rows, in one read of it.

    The boosted model is scored after each number of ``rounds``: its sums are
    stacked, one row per number (see :func:`best_rounds`).
    """
    return {
        "validation": _part_scores(part[part["__split__"] == 1], models, plan, rounds),
        "holdout": _part_scores(part[part["__split__"] == 2], models, plan, rounds),
    }


def _part_scores(rows: pd.DataFrame, models: dict[str, Any], plan: Plan, rounds: list[int]) -> dict[str, np.ndarray]:
    """Each model's metric sums over some rows (see :func:`metrics_from`)."""
    import numpy as np

    label = rows["__label__"].to_numpy()
    out = {}
    for name, model in models.items():
        if isinstance(model, BoostedModel):
            staged = model.staged_predict(rows, rounds) if len(rows) else [np.array([])] * len(rounds)
            out[name] = np.stack([_sums(predicted, label, plan) for predicted in staged])
        else:
            out[name] = _sums(model.predict(rows) if len(rows) else np.array([]), label, plan)
    return out


def _sums(predicted: np.ndarray, label: np.ndarray, plan: Plan) -> np.ndarray:
    """The sums :func:`metrics_from` needs: error moments (regression) or the confusion matrix (classes)."""
    import numpy as np

    if plan.classes is None:
        error = np.asarray(predicted, dtype="float64") - label
        return np.array(
            [
                len(label),
                float((error**2).sum()),
                float(np.abs(error).sum()),
                float(label.sum()),
                float((label**2).sum()),
                float((np.abs(error) / np.maximum(np.abs(label), np.finfo("float64").eps)).sum()),
            ]
        )
    codes = {value: code for code, value in enumerate(plan.classes)}
    guessed = np.asarray([codes[value] for value in predicted], dtype="int64")
    confusion = np.zeros((len(plan.classes), len(plan.classes)))
    np.add.at(confusion, (label.astype("int64"), guessed), 1.0)
    return confusion


def round_checkpoints(trained_rounds: int) -> list[int]:
    """The numbers of rounds the validation rows compare: every 1/:data:`ROUND_CHECKPOINTS` of them, and all."""
    step = max(1, trained_rounds // ROUND_CHECKPOINTS)
    return sorted({*range(step, trained_rounds + 1, step), trained_rounds})


def best_rounds(staged: np.ndarray, rounds: list[int], task: str, rank_metric: str) -> int:
    """The index into ``rounds`` whose validation score is best (the fewest rounds on a tie)."""
    best = 0
    for index in range(1, len(rounds)):
        score = metrics_from(staged[index], task).get(rank_metric)
        if evaluation.better(score, metrics_from(staged[best], task).get(rank_metric), rank_metric):
            best = index
    return best


def metrics_from(total: np.ndarray, task: str) -> dict[str, float | None]:
    """The task's metrics (those of :mod:`~dropml.training.evaluation`) from summed partition scores."""
    import numpy as np

    if task == "regression":
        rows, squares, absolute, label_sum, label_squares, relative = (float(v) for v in total)
        if rows == 0:
            return {"rmse": None, "mae": None, "r2": None, "mape": None}
        spread = label_squares - label_sum**2 / rows
        return {
            "rmse": math.sqrt(squares / rows),
            "mae": absolute / rows,
            "r2": 1.0 - squares / spread if spread > 0 else None,
            "mape": relative / rows,
        }
    confusion = total
    true_counts, guessed_counts, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(guessed_counts > 0, hits / guessed_counts, 0.0)
        recall = np.where(true_counts > 0, hits / true_counts, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (true_counts + guessed_counts) > 0  # scikit-learn averages over the labels that occur
    total_rows = float(confusion.sum())
    return {
        "accuracy": float(hits.sum() / total_rows) if total_rows else None,
        "f1_macro": float(f1[present].mean()) if present.any() else None,
        "precision_macro": float(precision[present].mean()) if present.any() else None,
        "recall_macro": float(recall[present].mean()) if present.any() else None,
        "roc_auc": None,
    }


# ── the run ───────────────────────────────────────────────────────────────────


@dataclass
class DaskTrained:
    """What a Dask run made before publishing: ranked models, their compiled forms, the schema and the report data."""

    source: Source
    plan: Plan
    ranked: list[Any]
    models: dict[str, Any]
    compiled: dict[str, Any]
    schema: Any
    rank_metric: str
    quality: dict[str, Any]
    rows: int
    columns: int
    timings: dict[str, float] = field(default_factory=dict)
    not_compiled: dict[str, str] = field(default_factory=dict)  # why a model has no compiled form


def _each(client: Any, parts: Any, function: Any, *arguments: Any) -> list[Any]:
    """``function(partition, *arguments)`` on every partition (one read of the data), in partition order."""
    import dask

    return client.compute([dask.delayed(function)(part, *arguments) for part in parts.to_delayed()], sync=True)


def _summed(client: Any, parts: Any, function: Any, *arguments: Any) -> Any:
    """:func:`_each`'s results added up (dicts key by key, tuples item by item)."""
    return _add_all(_each(client, parts, function, *arguments))


def _add_all(results: list[Any]) -> Any:
    total = results[0]
    for result in results[1:]:
        total = _combine("", total, result)
    return total


def _combine(name: str, left: Any, right: Any) -> Any:
    import numpy as np

    if isinstance(left, dict):
        return {key: _combine(key, left[key], right[key]) for key in left}
    if isinstance(left, tuple):
        return tuple(a + b for a, b in zip(left, right, strict=True))
    if name == "minimum":
        return np.minimum(left, right)
    if name == "maximum":
        return np.maximum(left, right)
    if name == "label_counts":
        size = max(len(left), len(right))
        return np.pad(left, (0, size - len(left))) + np.pad(right, (0, size - len(right)))
    return left + right


def train_on_cluster(client: Any, source: Source, conf: TrainingSettings) -> DaskTrained:
    """Read, split, fit and score every model on the cluster (see the module).

    Raises:
        BadInput: the data cannot train a model here (named problem).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    record_key = conf.record_key()
    replaced = replaced_by_partition(client, source, record_key) if record_key else {}
    raw, sample = read_partitions(source, replaced)
    if conf.target not in sample.columns:
        raise BadInput("target", conf.target, f"the target column {conf.target!r} is not in {source.key}")
    absent = [name for name in conf.row_key if name not in sample.columns]
    if absent:
        raise BadInput("row_key", absent, f"row_key column(s) {', '.join(map(repr, absent))} not in {source.key}")
    labels = _label_values(raw, sample, conf)
    plan = make_plan(sample, conf, _typed(labels, sample[conf.target]))
    # not persisted: each pass re-reads its partitions from S3, so a worker holds one partition at a time and the
    # data never has to fit in the cluster's memory (LightGBM alone holds each worker's share, as float32)
    split = raw.map_partitions(
        prepare, plan, conf.test_size, conf.random_state, list(conf.row_key), meta=_split_meta(plan)
    )
    per_partition = _each(client, split, moments, plan.features)
    train_lengths = [int(found["rows"][0]) for found in per_partition]  # LightGBM's chunks, without another pass
    totals = _add_all(per_partition)
    timings["read_seconds"] = time.perf_counter() - clock
    train_rows, all_rows = (int(v) for v in totals["rows"])
    if train_rows < evaluation.MIN_ROWS:
        raise BadInput("rows", train_rows, f"only {train_rows} training rows; at least {evaluation.MIN_ROWS} needed")
    stats = _column_stats(plan, totals)

    clock = time.perf_counter()
    models: dict[str, Any] = {"baseline": _baseline(plan, totals, stats, train_rows)}
    outputs = 1 if plan.classes is None else len(plan.classes)
    zz, zy = _summed(client, split, gram, stats, outputs)
    solved = ridge_from_gram(zz, zy, train_rows)
    models["linear"] = LinearModel(stats, solved[:-1], solved[-1], plan.classes)
    timings["linear_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    boosted = _boost(client, split, plan, stats, conf, train_lengths)
    models["gradient_boosting"] = boosted
    timings["boosting_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rank_metric = evaluation.resolve_rank_metric(conf.rank_metric, plan.task)
    rounds = round_checkpoints(boosted.rounds)
    [shared] = client.scatter([models], broadcast=True)  # sent once, not embedded in every task
    summed = _summed(client, split, scores, shared, plan, rounds)
    validation, holdout = summed["validation"], summed["holdout"]
    chosen = best_rounds(validation["gradient_boosting"], rounds, plan.task, rank_metric)
    models["gradient_boosting"] = boosted.truncated(rounds[chosen])
    validation["gradient_boosting"] = validation["gradient_boosting"][chosen]
    holdout["gradient_boosting"] = holdout["gradient_boosting"][chosen]
    ranked = _ranked(models, validation, holdout, plan, rank_metric)
    first = split.partitions[0].compute()  # one partition's holdout rows check the compiled forms
    check_rows = first[first["__split__"] == 2].head(COMPILE_CHECK_ROWS).reset_index(drop=True)
    compiled, not_compiled = _compile(models, check_rows)
    timings["score_seconds"] = time.perf_counter() - clock
    quality = _quality(source, conf, plan, sample, replaced, train_rows, all_rows, holdout)
    return DaskTrained(
        source=source,
        plan=plan,
        ranked=ranked,
        models=models,
        compiled=compiled,
        schema=_schema(plan, totals),
        rank_metric=rank_metric,
        quality=quality,
        rows=all_rows,
        columns=len(sample.columns),
        timings=timings,
        not_compiled=not_compiled,
    )


def _column_stats(plan: Plan, totals: dict[str, Any]) -> ColumnStats:
    """Each feature's training mean and standard deviation, from the summed moments."""
    import numpy as np

    count = np.maximum(totals["count"], 1.0)
    mean = totals["sum"] / count
    variance = np.maximum(totals["squares"] / count - mean**2, 0.0)
    return ColumnStats(plan.features, mean, np.where(variance > 0, np.sqrt(variance), 1.0))


def _baseline(plan: Plan, totals: dict[str, Any], stats: ColumnStats, train_rows: int) -> ConstantModel:
    """The training mean, or the most frequent class."""
    import numpy as np

    if plan.classes is None:
        return ConstantModel(stats, float(totals["label_sum"][0] / train_rows))
    return ConstantModel(stats, plan.classes[int(np.argmax(totals["label_counts"]))], plan.classes)


def _quality(
    source: Source,
    conf: TrainingSettings,
    plan: Plan,
    sample: pd.DataFrame,
    replaced: dict[int, np.ndarray],
    train_rows: int,
    all_rows: int,
    holdout: dict[str, Any],
) -> dict[str, Any]:
    """The data-quality record of a Dask run (the manifest's ``data_quality``, the report's table)."""
    record_key = conf.record_key()
    actions = [
        {
            "action": "dask",
            "message": f"trained on a Dask cluster: {source.size:,} bytes in {len(source.groups)} partitions",
        }
    ]
    replaced_count = sum(len(rows) for rows in replaced.values())
    if replaced_count:
        actions.append(
            {
                "action": "kept_latest_per_row_key",
                "message": f"{replaced_count:,} earlier version(s) of a record replaced by a later row with the "
                f"same {'/'.join(record_key)}",
                "count": replaced_count,
                "rows": replaced_count,
                "keys": list(record_key),
            }
        )
    return {
        "rows_in": all_rows + replaced_count,
        "rows_out": all_rows,
        "columns_in": len(sample.columns),
        "columns_out": len(plan.features),
        "task": plan.task,
        "actions": actions,
        "warnings": [f"not used on the Dask path (not numeric): {', '.join(plan.unused)}"] if plan.unused else [],
        "split": (
            f"by row key {', '.join(conf.row_key)}: holdout, validation (ranks the models), train"
            if conf.row_key
            else "random: holdout, validation (ranks the models), train"
        ),
        "train_rows": train_rows,
        "holdout_rows": int(holdout["baseline"][0]) if plan.classes is None else int(holdout["baseline"].sum()),
    }


def _ranked(
    models: dict[str, Any], validation: dict[str, Any], holdout: dict[str, Any], plan: Plan, rank_metric: str
) -> list[Any]:
    """Each model's validation metrics (rank it) and holdout metrics (``holdout_*``), ranked as the leaderboard."""
    results = []
    for name, model in models.items():
        held = metrics_from(holdout[name], plan.task)
        results.append(
            evaluation.ModelResult(
                name=name,
                estimator=model.estimator,
                pipeline=model,
                metrics={**metrics_from(validation[name], plan.task), **{f"holdout_{k}": v for k, v in held.items()}},
                params={**BOOSTING_PARAMS, "n_estimators": model.rounds} if isinstance(model, BoostedModel) else {},
                baseline=name == "baseline",
                selected_features=list(plan.features),
                classes=plan.classes,
            )
        )
    return evaluation.rank_results(results, rank_metric)


def _label_values(raw: Any, sample: pd.DataFrame, conf: TrainingSettings) -> Any:
    """The label's distinct values: all of them when they may be classes; the sample's when it shows a quantity.

    ``task: auto`` decides on the first partition when its values already rule out classes (fractions, or more
    distinct values than :data:`MAX_CLASSES`), so a regression target is never collected whole.
    """
    if conf.task == "regression":
        return sample[conf.target].dropna().head(1000)
    present = sample[conf.target].dropna()
    numbers = present if present.dtype.kind in "fiu" else None
    if conf.task == "auto" and (
        present.nunique() > MAX_CLASSES or (numbers is not None and bool((numbers != numbers.round()).any()))
    ):
        return present.head(10_000)
    return raw[conf.target].dropna().astype(str).drop_duplicates().compute()


def _typed(labels: Any, column: pd.Series) -> Any:
    """The label's distinct values in the column's own type (numbers decide classification vs regression)."""
    import pandas as pd

    values = pd.Series(list(labels))
    if pd.api.types.is_numeric_dtype(column):
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        whole = bool(len(numbers)) and bool((numbers == numbers.round()).all())
        return numbers.astype("int64") if whole else numbers
    return values


def _split_meta(plan: Plan) -> pd.DataFrame:
    import pandas as pd

    meta = pd.DataFrame({name: pd.Series(dtype="float32") for name in plan.features})
    meta["__label__"] = pd.Series(dtype="float64")
    meta["__split__"] = pd.Series(dtype="int8")
    return meta


def _boost(
    client: Any, split: Any, plan: Plan, stats: ColumnStats, conf: TrainingSettings, lengths: list[int]
) -> BoostedModel:
    """LightGBM on the train rows, ``training.boosting_rounds`` rounds, each worker on the partitions it holds.

    ``lengths``: each partition's train rows, known from the moments pass, so the arrays need no pass to count them.
    """
    import lightgbm.dask as lgb_dask

    train = split[split["__split__"] == 0]
    features = train[plan.features].to_dask_array(lengths=lengths)
    label = train["__label__"].to_dask_array(lengths=lengths)
    params = {
        **BOOSTING_PARAMS,
        "n_estimators": conf.boosting_rounds,
        "random_state": conf.random_state,
        "verbose": -1,
        "client": client,
    }
    if plan.classes is None:
        model = lgb_dask.DaskLGBMRegressor(**params)
    else:
        model = lgb_dask.DaskLGBMClassifier(**params)
        label = label.astype("int64")
    with client.as_current():  # lightgbm.dask waits on its parts with the default client
        model.fit(features, label)
    return BoostedModel(stats, model.booster_.model_to_string(), plan.classes)


def _compile(models: dict[str, Any], check_rows: pd.DataFrame) -> tuple[dict[str, Any], dict[str, str]]:
    """Each model's compiled form, and why the others have none (the manifest records it)."""
    compiled, reasons = {}, {}
    for name, model in models.items():
        try:
            compiled[name] = compile_model(model, check_rows)
        except (NotCompilable, ImportError) as err:
            logger.info("model not compiled", extra={"model": name, "reason": str(err)})
            reasons[name] = str(err)
    return compiled, reasons


def _schema(plan: Plan, totals: dict[str, np.ndarray]) -> Any:
    columns = []
    for name, low, high in zip(plan.features, totals["minimum"], totals["maximum"], strict=True):
        finite = math.isfinite(float(low)) and math.isfinite(float(high))
        columns.append(
            ColumnSchema(
                name=name,
                dtype="float64",
                kind="numeric",
                minimum=float(low) if finite else None,
                maximum=float(high) if finite else None,
            )
        )
    return InputSchema(columns=columns)
