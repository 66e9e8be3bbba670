"""A training run: one training CSV key in, one published model version (manifest last) out, audited and announced.

:func:`run_training` reads the data (a CSV under ``train/`` or a project's
dataset: :mod:`~dropml.training.sources`), runs the steps
(:mod:`~dropml.training.steps`) and, only after all validation and fitting
succeeded, writes the version (:mod:`~dropml.training.package`: pickles,
leaderboard, reports, then the manifest, whose put event publishes it). Data
above ``dask.train_above_bytes`` trains on the run's own Dask cluster instead
(:mod:`~dropml.training.distributed`, :mod:`~dropml.training.cluster`) into the
same kind of version (:mod:`~dropml.training.partitioned_package`). Success or
failure, it writes the run's audit record and announces the outcome on SNS.
The training job (``training_job.main train``) runs it.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dropml import audit, logs, notify
from dropml.clock import utc_now
from dropml.config import settings
from dropml.errors import BadInput, DropmlError
from dropml.faults import failpoint
from dropml.manifest import CodeVersion
from dropml.storage import keys
from dropml.storage.limits import check_data_size
from dropml.training import distributed, sources
from dropml.training.cluster import training_cluster
from dropml.training.package import write_trained_version
from dropml.training.partitioned_package import write_dask_version
from dropml.training.steps import RUN_ID, TrainedVersion, train

if TYPE_CHECKING:
    from dropml.config import TrainingSettings
    from dropml.manifest import Manifest
    from dropml.training.distributed import DaskTrained
    from dropml.training.ingest import TrainingData

logger = logging.getLogger(__name__)


def new_run_id() -> str:
    """A fresh, sortable run id: ``train-<UTC time>-<random>``."""
    return f"train-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


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
    dask_data: dict[str, Any] | None = None  # what proves which data a Dask run read (it holds no frame)

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
        data.update(self.dask_data or {})
        return {
            "run_id": self.run_id,
            "outcome": outcome,
            "project": self.project,
            "data": data,
            "code": CodeVersion.running().model_dump(),
            "config": self.conf.model_dump(mode="json") if self.conf else None,
            "started_at": self.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "finished_at": utc_now(),
            "duration_seconds": round(time.perf_counter() - self.clock, 3),
            "correlation_id": logs.current_correlation_id(),
            **extra,
        }

    def write_audit(self, record: dict[str, Any]) -> str | None:
        """Write the run's audit record; a failure to write it is logged, never raised over the run's outcome."""
        try:
            return audit.write_training_record(self.run_id, self.started_at, record)
        except Exception:  # the audit must never hide the run's own outcome
            logger.exception("training audit record not written", extra={"run_id": self.run_id})
            return None


def run_training(data_key: str, overrides: dict[str, Any] | None = None, run_id: str | None = None) -> Manifest:
    """Train every configured model on the CSV at ``data_key`` and publish a new version of its project.

    ``train/x.csv`` trains project ``default``, ``train/<p>/x.csv`` project
    ``<p>``, ``datasets/<p>/`` project ``<p>`` on its dataset; ``overrides``
    replace the project's training settings for this run (the launcher passes
    the project's stored settings here). On
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
            run.project = keys.project_of(data_key, "train")
            run.conf = settings().training_for(run.project, overrides or {})
            logger.info("training started", extra={"data_key": data_key, "project": run.project, "run_id": run.run_id})
            if sources.training_bytes(data_key, run.project, run.conf) > settings().dask.train_above_bytes:
                trained, manifest = _train_on_dask(data_key, run.project, run.conf, run)
            else:
                run.data = sources.load(data_key, run.conf)
                failpoint("after_ingest")
                with tempfile.TemporaryDirectory(prefix="dropml-train-") as spool_dir:
                    trained = train(run.data, run.conf, spool_dir)
                    manifest = write_trained_version(trained, run.project, run.run_id)
        except Exception as err:
            _announce_failure(run, err)
            raise
        _announce_success(run, trained, manifest)
    return manifest


def _train_on_dask(data_key: str, project: str, conf: TrainingSettings, run: _Run) -> tuple[DaskTrained, Manifest]:
    """Train on the run's own Dask cluster (:mod:`~dropml.training.distributed`) and publish the version."""
    dask_conf = settings().dask
    source = distributed.locate(data_key, project, conf, dask_conf.training_partition_bytes)
    check_data_size(data_key, source.size)
    logger.info("training on dask", extra={"bytes": source.size, "partitions": len(source.groups)})
    with training_cluster(dask_conf) as client:
        trained = distributed.train_on_cluster(client, source, conf)
    logger.info("trained on dask", extra={"rows": trained.rows, **{k: round(v, 1) for k, v in trained.timings.items()}})
    run.dask_data = {"etag": source.etag, "sha256": source.sha256, "bytes": source.size, "rows": trained.rows}
    return trained, write_dask_version(trained, conf, project, run.run_id)


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


def _announce_success(run: _Run, trained: TrainedVersion | DaskTrained, manifest: Manifest) -> None:
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
        not_compiled=manifest.uncompiled,
        error=None,
    )
    audit = run.write_audit(record)
    score = champion.metrics.get(manifest.rank_metric)
    shown = f"{score:.4g}" if isinstance(score, float) else "n/a"
    uncompiled = manifest.uncompiled
    served_by = f"; {len(uncompiled)} of {len(manifest.models)} models not compiled" if uncompiled else ""
    notify.announce(
        "training",
        "succeeded",
        f"{manifest.project} v{manifest.version}: {manifest.champion} {manifest.rank_metric}={shown}{served_by}",
        project=manifest.project,
        version=manifest.version,
        data_key=run.data_key,
        run_id=run.run_id,
        champion=manifest.champion,
        rank_metric=manifest.rank_metric,
        metrics=champion.metrics,
        compiled=[m.name for m in manifest.models if m.compiled is not None],
        not_compiled=uncompiled,  # model -> why scikit-learn serves it (slower, and needs it installed)
        manifest_key=manifest_key,
        artifacts={name: artifact.key for name, artifact in manifest.artifacts.items()},
        audit_key=audit,
    )
    logger.info(
        "training succeeded",
        extra={"project": manifest.project, "version": manifest.version, "champion": manifest.champion},
    )
