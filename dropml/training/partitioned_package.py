"""Publishing a Dask run: the same version files and manifest as the in-process path, manifest last.

Pickles of the partitioned models, their ONNX forms, the leaderboard and a
report go through :func:`dropml.registry.write_version`; serving reads them
exactly as it reads an in-process version.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dropml import registry
from dropml.manifest import CodeVersion, DataSource, Manifest
from dropml.registry import VersionFile
from dropml.storage import keys
from dropml.training.evaluation import leaderboard_frame
from dropml.training.package import artifact_links, compiled_artifact, model_entries
from dropml.training.report import ReportContent, render_report

if TYPE_CHECKING:
    from dropml.config import TrainingSettings
    from dropml.manifest import Artifact
    from dropml.training.distributed import DaskTrained


NOT_EXPLAINED_ON_DASK = "a version trained on a Dask cluster has no explainer yet (only in-process training builds one)"


def write_dask_version(trained: DaskTrained, conf: TrainingSettings, project: str, run_id: str) -> Manifest:
    """Write ``trained`` as the next version of ``project`` (manifest last)."""
    return registry.write_version(
        project,
        run_id,
        lambda version, created_at: _files(trained, conf, project, version, created_at),
        lambda version, created_at, artifacts: _manifest(
            trained, conf, project, version, run_id, created_at, artifacts
        ),
    )


def _files(
    trained: DaskTrained, conf: TrainingSettings, project: str, version: int, created_at: str
) -> Iterator[VersionFile]:
    import joblib

    for result in trained.ranked:
        buffer = io.BytesIO()
        joblib.dump(trained.models[result.name], buffer)
        yield VersionFile(result.name, f"{result.name}.pkl", buffer.getvalue(), "application/octet-stream")
    for name, model in trained.compiled.items():
        yield VersionFile(compiled_artifact(name), compiled_artifact(name), model.body, "application/octet-stream")
    board = leaderboard_frame(trained.ranked, trained.plan.task)
    yield VersionFile("leaderboard", keys.LEADERBOARD_NAME, board.to_csv(index=False).encode(), "text/csv")
    content = ReportContent(
        project=project,
        version=version,
        data_key=trained.source.key,
        created_at=created_at,
        task=trained.plan.task,
        target=conf.target,
        rank_metric=trained.rank_metric,
        champion=trained.ranked[0].name,
        quality=trained.quality,
        summary={},
        leaderboard=board,
        selected_features=list(trained.plan.features),
        split=trained.quality["split"],
    )
    yield VersionFile("report", keys.REPORT_NAME, render_report(content), "text/html; charset=utf-8", report=True)


def _manifest(
    trained: DaskTrained,
    conf: TrainingSettings,
    project: str,
    version: int,
    run_id: str,
    created_at: str,
    artifacts: dict[str, Artifact],
) -> Manifest:
    source = trained.source
    return Manifest(
        project=project,
        version=version,
        created_at=created_at,
        run_id=run_id,
        data=DataSource(
            key=source.key,
            etag=source.etag,
            sha256=source.sha256,
            rows=trained.rows,
            columns=trained.columns,
            bytes=source.size,
        ),
        code=CodeVersion.running(),
        config={**conf.model_dump(mode="json"), "engine": "dask"},
        target=conf.target,
        task=trained.plan.task,  # type: ignore[arg-type]
        classes=trained.plan.classes,
        input_schema=trained.schema,
        selected_features=list(trained.plan.features),
        data_quality=trained.quality,
        artifacts=artifacts,
        models=model_entries(
            trained.ranked, trained.compiled, trained.not_compiled, trained.ranked[0].name, NOT_EXPLAINED_ON_DASK
        ),
        rank_metric=trained.rank_metric,
        champion=trained.ranked[0].name,
        **artifact_links(artifacts),
    )
